package config

// Plugins configures the Wasm plugin host.
type Plugins struct{}

// validate returns every problem in the plugin configuration.
func (p *Plugins) validate() []error { return nil }
