package injectors

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Registry is a fault engine that holds faults by name, each with a lease
// (the fault proxy and its HTTP layer are two).
type Registry[F any] interface {
	Add(name string, f F, lease time.Duration) error
	Remove(name string) error
}

// Named adapts one fault of a registry to the Injector contract: Inject
// adds f under name with the lease, Clear removes it. Clear treats
// notFound (the registry's "no such fault") as done, so it is idempotent,
// safe before Inject and after the lease ran out. describe is what String
// returns.
func Named[F any](r Registry[F], name string, f F, notFound error, describe string) Injector {
	return &named[F]{r: r, name: name, f: f, notFound: notFound, describe: describe}
}

type named[F any] struct {
	r        Registry[F]
	name     string
	f        F
	notFound error
	describe string
}

func (n *named[F]) Inject(ctx context.Context, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inject %s: %w", n.describe, err)
	}
	return n.r.Add(n.name, n.f, lease)
}

func (n *named[F]) Clear(context.Context) error {
	if err := n.r.Remove(n.name); err != nil && !errors.Is(err, n.notFound) {
		return err
	}
	return nil
}

func (n *named[F]) String() string { return n.describe }
