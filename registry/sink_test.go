package registry

import "time"

// updateSink is a Sink that hands every Update to a function and ignores
// the rest.
type updateSink func(*Data)

func (f updateSink) Describe(SourceInfo)  {}
func (f updateSink) Update(d *Data)       { f(d) }
func (f updateSink) Synced(time.Duration) {}
func (f updateSink) Failed(error)         {}
