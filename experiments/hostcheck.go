package experiments

import "fmt"

// CheckHost applies the blast-radius guard of CheckBlastRadius to one host
// outside a Drill file (the addresses of aftershock proxy): it must be
// loopback ("localhost" included) or named by allow, whose entries are host
// names, IP addresses or CIDR ranges as in spec.allowHosts. An empty host
// means every interface and is refused unless allow names 0.0.0.0 or ::.
func CheckHost(host string, allow ...string) error {
	if host != "" && loopback(host) {
		return nil
	}
	for _, a := range allow {
		ok, err := parseAllowed(a)
		if err != nil {
			return fmt.Errorf("allowed host %q: %w", a, err)
		}
		if ok(host) || (host == "" && (ok("0.0.0.0") || ok("::"))) {
			return nil
		}
	}
	if host == "" {
		return fmt.Errorf("an empty host means every interface; use 127.0.0.1, or write 0.0.0.0 and allow it")
	}
	return fmt.Errorf("refusing host %q: aftershock touches loopback only, unless the host is allowed by name", host)
}
