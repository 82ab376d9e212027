package registry

import "slices"

// Services as a group builds them: their versions, now and in the base
// (see layers.go).

// version is a service as an overlay builds it: the service (nil: there
// is none) and its running tasks, in order.
type version struct {
	svc   *Service
	tasks []*Task
}

func sameVersion(a, b *version) bool {
	if (a.svc == nil) != (b.svc == nil) || (a.svc != nil && !SameService(a.svc, b.svc)) || len(a.tasks) != len(b.tasks) {
		return false
	}
	for i := range a.tasks {
		if !SameTask(a.tasks[i], b.tasks[i]) {
			return false
		}
	}
	return true
}

// versionsOf returns the versions of the services of sub, and of those
// its tasks are of, by ID.
func versionsOf(sub *Data) map[string]*version {
	vs := make(map[string]*version, len(sub.Services))
	for i := range sub.Services {
		vs[sub.Services[i].ID] = &version{svc: &sub.Services[i]}
	}
	for i := range sub.Tasks {
		if t := &sub.Tasks[i]; t.State == TaskRunning {
			v := vs[t.ServiceID]
			if v == nil {
				v = &version{}
				vs[t.ServiceID] = v
			}
			v.tasks = append(v.tasks, t)
		}
	}
	return vs
}

// baseVersion is the service with this ID as the base has it.
func (l *layers) baseVersion(id string) *version {
	v := &version{}
	if o, ok := l.index.services[id]; ok {
		v.svc = &l.baseData.Services[o]
	}
	for _, o := range l.index.tasksOf[id] {
		v.tasks = append(v.tasks, &l.baseData.Tasks[o])
	}
	return v
}

// present is the Data to publish by service: a service the diff did not
// find changed is the base's.
type present struct {
	l  *layers
	d  *Data
	ch *change
	// movedBy are the places in d of the tasks the diff found added,
	// changed or moved, by service.
	movedBy map[string][]int32
	places  []int32 // scratch
	cache   map[string]*version
}

func newPresent(l *layers, d *Data, ch *change) *present {
	p := &present{l: l, d: d, ch: ch, movedBy: map[string][]int32{}, cache: map[string]*version{}}
	for _, i := range ch.moved {
		id := d.Tasks[i].ServiceID
		p.movedBy[id] = append(p.movedBy[id], i)
	}
	return p
}

// placesOf returns the places in d of the running tasks of service id,
// which the diff found changed, in order; in scratch.
func (p *present) placesOf(id string) []int32 {
	places := p.places[:0]
	for _, o := range p.l.index.tasksOf[id] {
		if i := p.ch.newPlace(o); i >= 0 {
			places = append(places, i)
		}
	}
	places = append(places, p.movedBy[id]...)
	slices.Sort(places)
	places = slices.Compact(places)
	k := 0
	for _, i := range places {
		if t := &p.d.Tasks[i]; t.ServiceID == id && t.State == TaskRunning {
			places[k] = i
			k++
		}
	}
	p.places = places
	return places[:k]
}

// version returns the service with this ID as it is now.
func (p *present) version(id string) *version {
	if v := p.cache[id]; v != nil {
		return v
	}
	var v *version
	if !p.ch.services[id] {
		v = p.l.baseVersion(id)
	} else {
		v = &version{svc: p.l.serviceNow(p.d, p.ch, id)}
		places := p.placesOf(id)
		v.tasks = make([]*Task, len(places))
		for k, i := range places {
			v.tasks[k] = &p.d.Tasks[i]
		}
	}
	p.cache[id] = v
	return v
}

// same reports whether the service with this ID, which the diff found
// changed, is now as v has it; it allocates nothing.
func (p *present) same(id string, v *version) bool {
	svc := p.l.serviceNow(p.d, p.ch, id)
	if (svc == nil) != (v.svc == nil) || (svc != nil && !SameService(svc, v.svc)) {
		return false
	}
	places := p.placesOf(id)
	if len(places) != len(v.tasks) {
		return false
	}
	for k, i := range places {
		if !SameTask(&p.d.Tasks[i], v.tasks[k]) {
			return false
		}
	}
	return true
}

// subData returns the services of the set as they are now, with their
// running tasks and every network and node.
func (p *present) subData(services map[string]bool) *Data {
	d := p.d
	sub := &Data{Networks: d.Networks, Nodes: d.Nodes, LocalNode: d.LocalNode}
	n := 0
	for id := range services {
		n += len(p.version(id).tasks)
	}
	sub.Tasks = make([]Task, 0, n)
	for id := range services {
		// A task whose service is gone counts in the stats.
		v := p.version(id)
		if v.svc != nil {
			sub.Services = append(sub.Services, *v.svc)
		}
		for _, t := range v.tasks {
			sub.Tasks = append(sub.Tasks, *t)
		}
	}
	return sub
}

// baseSubData is subData of the base's Data.
func (l *layers) baseSubData(services map[string]bool) *Data {
	bd, idx := l.baseData, l.index
	sub := &Data{Networks: bd.Networks, Nodes: bd.Nodes, LocalNode: bd.LocalNode}
	for id := range services {
		if o, ok := idx.services[id]; ok {
			sub.Services = append(sub.Services, bd.Services[o])
		}
		for _, o := range idx.tasksOf[id] {
			sub.Tasks = append(sub.Tasks, bd.Tasks[o])
		}
	}
	return sub
}
