package proxy

import (
	"fmt"

	"github.com/aftershock/aftershock/injectors"
)

// Injector adapts one fault of p to the injectors.Injector contract: Inject
// adds it under name with the lease, Clear removes it (idempotent, also
// before Inject and after the lease ran out).
func (p *Proxy) Injector(name string, f Fault) injectors.Injector {
	return injectors.Named[Fault](p, name, f, ErrNotFound,
		fmt.Sprintf("%s (%s on %s → %s)", name, f, p.Addr(), p.forward))
}
