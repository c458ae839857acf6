package oauth

import "time"

// timeNow is replaced in tests.
var timeNow = time.Now
