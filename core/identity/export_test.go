package identity

import "time"

// SetClock replaces the sessions' clock, for tests of expiry.
func SetClock(s *Sessions, now func() time.Time) { s.now = now }
