package registry

import "strings"

// serviceScratch is reused from service to service.
type serviceScratch struct {
	ids      []string
	networks []string
	names    []string
	tasks    []taskInfo
	slots    []int
	ptrs     []keyRef
}

// servicePass is what adding one service knows on every network.
type servicePass struct {
	svc   *Service
	si    *svcInfo
	tasks []*Task
	info  []taskInfo // by task
	// srvFirst are the SRV owners' first labels by port: "_http._tcp".
	srvFirst  []string
	firstPort uint16
	// singleRecord: a task with one address on one network has its names
	// packed as they are added (see singleRecordTask).
	singleRecord bool
}

// taskInfo is what a service's pass knows of each of its tasks.
type taskInfo struct {
	name   int32 // its name's number once added, else -1
	info   uint32
	weight uint32
	local  locality
}

// networkPass is what adding one service knows on one of its networks.
type networkPass struct {
	id        string
	name      string // lower case; "" for none (see cluster.netName)
	view      int32  // the network's view number
	inDefault bool
	// taskRecs are every task's addresses on the network, task after
	// task: a task's own records are a window of it.
	taskRecs, vipRecs recsRef
	names             []string // the service's name and aliases here
}

// service adds the names of one service on each of its networks: its
// name and aliases, their tasks and SRV names, each task's name, slot
// name and network-scoped name, and the reverse names of their addresses.
func (b *builder) service(svc *Service) {
	si := b.labels(svc)
	if err := checkName(si.name); err != nil {
		b.warnf("service %s: %v; not served", svc.Name, err)
		return
	}
	sp := servicePass{svc: svc, si: &si, tasks: b.cluster.tasksOf(svc)}
	networks := b.serviceNetworks(svc, sp.tasks)
	sp.info = b.taskInfos(&si, sp.tasks)
	if len(si.ports) > 0 {
		sp.firstPort = si.ports[0].Target
	}
	sp.srvFirst = make([]string, len(si.ports))
	for k, p := range si.ports {
		sp.srvFirst[k] = srvLabels(p)
	}
	sp.singleRecord = b.shapeIndexed && uniqueSlots(sp.tasks, &b.perService.slots)
	for _, netID := range networks {
		b.serviceOn(&sp, netID)
	}
	b.endSlots(si.name)
}

// serviceNetworks returns the networks a service is named on: its
// attachments, its VIPs' networks and its tasks' networks, each sorted by
// ID, ingress left out.
func (b *builder) serviceNetworks(svc *Service, tasks []*Task) []string {
	sc := &b.perService
	networks := sc.networks[:0]
	addNet := func(id string) {
		for _, n := range networks {
			if n == id {
				return
			}
		}
		if !b.cluster.ingress(id) {
			networks = append(networks, id)
		}
	}
	for _, a := range svc.Networks {
		addNet(a.Network)
	}
	sc.ids = svc.VIPNetworkIDs(sc.ids[:0])
	for _, id := range sc.ids {
		addNet(id)
	}
	for _, t := range tasks {
		sc.ids = t.NetworkIDs(sc.ids[:0])
		for _, id := range sc.ids {
			addNet(id)
		}
	}
	sc.networks = networks
	return networks
}

// taskInfos numbers each task's ID in the record table's infos and works
// out its weight and locality.
func (b *builder) taskInfos(si *svcInfo, tasks []*Task) []taskInfo {
	ti := b.perService.tasks[:0]
	for _, t := range tasks {
		ti = append(ti, taskInfo{
			name:   -1,
			info:   uint32(len(b.tab.infos)),
			weight: si.weight * b.nodeWeight(t.NodeID),
			local:  b.where.of(t.NodeID, b.cluster.nodes),
		})
		b.tab.infos = append(b.tab.infos, t.ID)
	}
	b.perService.tasks = ti
	return ti
}

// serviceOn adds the service's names on the network with this ID.
func (b *builder) serviceOn(sp *servicePass, netID string) {
	c, si := &b.collected, sp.si
	np := networkPass{id: netID, name: b.cluster.netName(netID), view: c.networkNumber(netID)}
	np.inDefault = c.inDefault[np.view]
	n := 0
	for _, t := range sp.tasks {
		n += len(t.AddrsOn(netID))
	}
	np.taskRecs = recsRef{off: uint32(len(c.arena)), n: uint32(n)}
	for i, t := range sp.tasks {
		for _, a := range t.AddrsOn(netID) {
			c.arena = append(c.arena, newAddrRec(a, sp.info[i].weight, sp.info[i].info, sp.info[i].local))
		}
	}
	if vip, ok := sp.svc.VIPOn(netID); ok && vip.IsValid() {
		np.vipRecs = recsRef{off: uint32(len(c.arena)), n: 1}
		c.arena = append(c.arena, newAddrRec(vip, max(si.weight, 1), infoVIP, elsewhere))
	}
	names := append(b.perService.names[:0], si.name)
	names = b.aliases(names, sp.svc, si, netID)
	b.perService.names = names
	np.names = names
	if b.shapeIndexed {
		b.servedNames = append(b.servedNames, names...)
	}
	b.addServiceNames(sp, &np)
	b.addTaskNames(sp, &np)
	if np.name != "" && np.vipRecs.n > 0 {
		if key := b.k(si.name, ".", np.name); len(key) <= maxKey {
			target := c.rawRef(key)
			b.ptr(c.arena[np.vipRecs.off].addr(), target, si)
		}
	}
	b.addSRVs(sp, &np)
}

// addServiceNames adds the service's names and aliases, and their tasks
// names, with and without the network.
func (b *builder) addServiceNames(sp *servicePass, np *networkPass) {
	c, si := &b.collected, sp.si
	svcRecs := np.vipRecs
	if si.tasksOn {
		svcRecs = np.taskRecs
	}
	for _, name := range np.names {
		c.add(b.k(name), np.view, false, si, svcRecs, nil)
		c.add(b.k("tasks.", name), np.view, false, si, np.taskRecs, nil)
		if np.name != "" {
			c.add(b.k(name, ".", np.name), np.view, true, si, svcRecs, nil)
			c.add(b.k("tasks.", name, ".", np.name), np.view, true, si, np.taskRecs, nil)
		}
	}
}

// addTaskNames adds each task by name, by slot and by network-scoped
// name, and the reverse names of its addresses.
func (b *builder) addTaskNames(sp *servicePass, np *networkPass) {
	c, si, ti := &b.collected, sp.si, sp.info
	off := 0
	for i, t := range sp.tasks {
		recs := np.taskRecs.window(off, len(t.AddrsOn(np.id)))
		off += int(recs.n)
		if recs.n == 0 {
			continue
		}
		b.key = appendTaskKey(b.key[:0], si.name, t)
		if len(b.key) > maxKey {
			continue
		}
		if sp.singleRecord && np.inDefault && recs.n == 1 && len(t.Addresses) == 1 {
			ti[i].name = b.singleRecordTask(t, si, np.name, recs)
			continue
		}
		n := ti[i].name // its name from an earlier network
		if n < 0 {
			n = b.taskName(b.key)
		}
		ti[i].name = c.addTo(n, np.view, false, si, recs, nil)
		if t.Slot > 0 {
			b.key = appendSlotKey(b.key[:0], t.Slot, si.name)
			if len(b.key) <= maxKey {
				c.addTo(b.slotName(t.Slot, b.key), np.view, false, si, recs, nil)
			}
		}
		if np.name != "" {
			b.key = append(append(append(b.key[:0], c.refKey(c.ref(ti[i].name))...), '.'), np.name...)
			if len(b.key) <= maxKey {
				scoped := c.addTo(b.taskNetName(ti[i].name, np.name, b.key), np.view, true, si, recs, nil)
				for k := range recs.n {
					b.ptr(c.arena[recs.off+k].addr(), c.ref(scoped), si)
				}
			}
		}
	}
}

// addSRVs adds the SRV records: per named port, and on the service and
// tasks names.
func (b *builder) addSRVs(sp *servicePass, np *networkPass) {
	c, si := &b.collected, sp.si
	all := b.srvRecords(sp, np.id, sp.firstPort)
	for _, name := range np.names {
		for k, p := range si.ports {
			recs := all
			if p.Target != sp.firstPort {
				recs = b.srvRecords(sp, np.id, p.Target)
			}
			c.add(b.k(sp.srvFirst[k], ".", name), np.view, false, si, recsRef{}, recs)
		}
		c.add(b.k(name), np.view, false, si, recsRef{}, all)
		c.add(b.k("tasks.", name), np.view, false, si, recsRef{}, all)
	}
}

// srvRecords returns an SRV record to port for every named task with an
// address on the network, its addresses the glue.
func (b *builder) srvRecords(sp *servicePass, netID string, port uint16) []srvRec {
	srvs := takeN(&b.collected.srvSlab, len(sp.tasks))[:0]
	for i, t := range sp.tasks {
		glue := t.AddrsOn(netID)
		ti := &sp.info[i]
		if len(glue) == 0 || ti.name < 0 {
			continue
		}
		srvs = append(srvs, srvRec{
			task: ti.name, port: port, weight: ti.weight, local: ti.local, info: ti.info, glue: glue,
		})
	}
	return srvs
}

// aliases appends the service's valid aliases on net other than its name.
func (b *builder) aliases(names []string, svc *Service, si *svcInfo, net string) []string {
	for _, a := range svc.Networks {
		if a.Network != net {
			continue
		}
		for _, al := range a.Aliases {
			al = strings.ToLower(al)
			if err := checkName(al); err != nil {
				b.warnf("service %s: alias: %v; not served", svc.Name, err)
				continue
			}
			if al != si.name {
				names = append(names, al)
			}
		}
	}
	return names
}

// k makes a name key of parts in the builder's scratch.
func (b *builder) k(parts ...string) []byte {
	b.key = b.key[:0]
	for _, p := range parts {
		b.key = append(b.key, p...)
	}
	return b.key
}
