// Package file is the registry source that reads a YAML registry file
// (docs/registry-file.md). Parse and Load turn a file into registry.Data
// or into every problem it has, each with its line; Source watches the
// file (fsnotify on its directory, and Reload on SIGHUP) and hands each
// good version to a registry.Sink. A file that turns bad is reported as a
// failed sync and the last good data keeps serving; a watched file never
// goes stale.
package file
