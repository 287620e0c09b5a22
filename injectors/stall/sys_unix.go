//go:build unix

package stall

import (
	"fmt"
	"syscall"
)

// fdReserve is what the rest of the process keeps beside the clients:
// listeners, pprof, the runner's own connections.
const fdReserve = 64

func setRecvBuffer(fd uintptr, size int) error {
	if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size); err != nil {
		return fmt.Errorf("set SO_RCVBUF to %d: %w", size, err)
	}
	return nil
}

// checkFileLimit fails early, with the fix in the message, when count
// clients cannot get a file descriptor each. Go raises the soft limit to
// the hard one at start-up, so the soft limit is what there is.
func checkFileLimit(count int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // cannot tell; the dials will say
	}
	if need := uint64(count) + fdReserve; need > lim.Cur {
		return fmt.Errorf("%d clients need about %d file descriptors, but RLIMIT_NOFILE is %d: raise it (ulimit -n) or lower count", count, need, lim.Cur)
	}
	return nil
}
