//go:build !linux

package netns

import (
	"net/netip"
)

// hostSys is empty where there are no network namespaces: New refuses.
type hostSys struct{}

// New refuses: kernel faults need Linux.
func New(listen, forward string) (*Host, error) {
	if _, _, err := plan(listen); err != nil {
		return nil, err
	}
	return nil, Supported()
}

// NetemSupport refuses: kernel faults need Linux.
func NetemSupport() error { return Supported() }

func free(addr netip.AddrPort, peer netip.Addr) error { return Supported() }

// Devices is empty: no Host is ever made here.
func (h *Host) Devices() (here, inside string) { return "", "" }

// Do refuses: there is no namespace to enter.
func (h *Host) Do(f func() error) error { return Supported() }

func (h *Host) release() error {
	if h.relay != nil {
		return h.relay.Close()
	}
	return nil
}

func (Partition) apply(*Host, string) (func() error, error) { return nil, Supported() }
func (Loss) apply(*Host, string) (func() error, error)      { return nil, Supported() }
func (Bandwidth) apply(*Host, string) (func() error, error) { return nil, Supported() }
func (Delay) apply(*Host, string) (func() error, error)     { return nil, Supported() }
