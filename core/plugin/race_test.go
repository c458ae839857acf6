//go:build race

package plugin

import "time"

// reloadWithin is how soon a rewritten plugin must serve in the reload
// tests: one second, as promised, stretched under the race detector, which
// slows compiling the new version several times over.
const reloadWithin = 5 * time.Second

// rssSlack multiplies the RSS bounds of the sandbox tests: the race
// detector's shadow memory shadows every byte the guest's stack touches.
const rssSlack = 3
