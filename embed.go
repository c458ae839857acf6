// Package gatehouse holds what the binary embeds from the repository root.
package gatehouse

import _ "embed"

// DefaultConfig is config.yaml, the embedded default configuration.
//
//go:embed config.yaml
var DefaultConfig []byte
