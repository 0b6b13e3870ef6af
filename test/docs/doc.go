// Package docs holds the tests that check the user documentation (README.md,
// docs/, the chart README) against the code: annotation keys, flags, status
// fields, links and shell blocks. It has no code of its own.
package docs
