package server

// Observers tells each of its observers about every reply, in order.
type Observers []Observer

// Observe implements Observer.
func (os Observers) Observe(ev *Event) {
	for _, o := range os {
		o.Observe(ev)
	}
}
