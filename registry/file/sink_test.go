package file

import (
	"time"

	"github.com/swarmdns/swarmdns/registry"
)

// updateSink is a Sink that hands every Update to a function and ignores
// the rest.
type updateSink func(*registry.Data)

func (f updateSink) Describe(registry.SourceInfo) {}
func (f updateSink) Update(d *registry.Data)      { f(d) }
func (f updateSink) Synced(time.Duration)         {}
func (f updateSink) Failed(error)                 {}
