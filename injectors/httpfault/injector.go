package httpfault

import (
	"fmt"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// Injector adapts one HTTP fault of p to the injectors.Injector contract:
// Inject adds it under name with the lease, Clear removes it (idempotent).
func (p *Proxy) Injector(name string, f Fault) injectors.Injector {
	return injectors.Named[Fault](p, name, f, proxy.ErrNotFound,
		fmt.Sprintf("%s (http %s on %s)", name, f, p.Addr()))
}
