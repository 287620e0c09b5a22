package httpfault

import "time"

// hold is the delay action: it keeps a message for d before it is passed
// on. It reports false when the connection ended meanwhile.
func hold(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
