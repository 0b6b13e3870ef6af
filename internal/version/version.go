// Package version holds the build version of the rolechain binaries, set at
// link time: -ldflags "-X github.com/rolechain/rolechain/internal/version.Version=v1.2.3".
package version

// Version is the release this binary was built from; "dev" for local builds.
var Version = "dev"
