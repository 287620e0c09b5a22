package httpfault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// Injector adapts one HTTP fault of p to the injectors.Injector contract:
// Inject adds it under name with the lease, Clear removes it (idempotent).
func (p *Proxy) Injector(name string, f Fault) injectors.Injector {
	return &injector{p: p, name: name, f: f}
}

type injector struct {
	p    *Proxy
	name string
	f    Fault
}

func (i *injector) Inject(ctx context.Context, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inject %s: %w", i, err)
	}
	return i.p.Add(i.name, i.f, lease)
}

func (i *injector) Clear(context.Context) error {
	if err := i.p.Remove(i.name); err != nil && !errors.Is(err, proxy.ErrNotFound) {
		return err
	}
	return nil
}

func (i *injector) String() string {
	return fmt.Sprintf("%s (http %s on %s)", i.name, i.f, i.p.Addr())
}
