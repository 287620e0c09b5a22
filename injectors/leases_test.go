package injectors

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// registry is the smallest user of Leases: a lock, and expire taking it.
type registry struct {
	mu      sync.Mutex
	l       Leases[string]
	expired chan string
}

func (r *registry) add(name string, lease time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.l.Add(name, "fault "+name, lease, r.expire)
	return err
}

func (r *registry) expire(name string, seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.l.Expire(name, seq); ok {
		r.expired <- name
	}
}

func TestLeases(t *testing.T) {
	r := &registry{expired: make(chan string, 4)}
	if err := r.add("", 0); err == nil {
		t.Error("an empty name was accepted")
	}
	if err := r.add("a", 0); err != nil {
		t.Fatal(err)
	}
	if err := r.add("a", 0); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := r.l.Remove("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove unknown: %v", err)
	}
	// A lease that runs out removes its fault...
	if err := r.add("b", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-r.expired:
		if name != "b" {
			t.Fatalf("expired %q", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lease did not run out")
	}
	// ...but not a fault set again under the same name since.
	if err := r.add("c", 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	old, _ := r.l.Get("c")
	r.l.Remove("c")
	r.l.Add("c", "again", 0, r.expire)
	r.mu.Unlock()
	r.expire("c", old.Seq) // what the first lease's timer would do
	r.mu.Lock()
	got, ok := r.l.Get("c")
	names := []string{}
	for _, e := range r.l.Sorted() {
		names = append(names, e.Name)
	}
	r.mu.Unlock()
	if !ok || got.Fault != "again" {
		t.Errorf("a stale lease removed the fault set since: %v %v", got, ok)
	}
	if len(names) != 2 || names[0] != "a" || names[1] != "c" {
		t.Errorf("sorted: %v, want [a c]", names)
	}
	r.mu.Lock()
	all := r.l.RemoveAll()
	r.mu.Unlock()
	if len(all) != 2 || r.l.Len() != 0 {
		t.Errorf("RemoveAll returned %d, left %d", len(all), r.l.Len())
	}
}
