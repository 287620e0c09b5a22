package experiments

import "testing"

func TestCheckHost(t *testing.T) {
	for _, c := range []struct {
		host  string
		allow []string
		ok    bool
	}{
		{"127.0.0.1", nil, true},
		{"::1", nil, true},
		{"localhost", nil, true},
		{"10.1.2.3", nil, false},
		{"10.1.2.3", []string{"10.0.0.0/8"}, true},
		{"db.internal", []string{"db.internal"}, true},
		{"db.internal", []string{"10.1.2.3"}, false},
		{"", nil, false},
		{"", []string{"0.0.0.0"}, true},
		{"10.1.2.3", []string{"not a host!"}, false},
	} {
		if err := CheckHost(c.host, c.allow...); (err == nil) != c.ok {
			t.Errorf("CheckHost(%q, %q) = %v, want ok=%v", c.host, c.allow, err, c.ok)
		}
	}
}
