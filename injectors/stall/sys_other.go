//go:build !unix

package stall

import "errors"

func setRecvBuffer(uintptr, int) error {
	return errors.New("setting the receive buffer is only supported on unix")
}

func checkFileLimit(int) error { return nil }
