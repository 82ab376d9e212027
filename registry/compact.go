package registry

import "net/netip"

// interner hands out one copy of each string it is given, so that the
// many tasks that name the same service, node, state or network share it
// instead of each keeping the copy its decoder made.
type interner map[string]string

func (in interner) get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	in[s] = s
	return s
}

// nonEmpty returns labels, or nil for none: the engine sends "Labels": {}
// for every object without labels, and Data need not keep an empty map
// for each.
func nonEmpty(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	return labels
}

// packAddrs moves the tasks' addresses into two arrays all of them share:
// two allocations in place of two per task, none rounded up to a size
// class. Each task's slices are capped, so an append copies rather than
// overwrite the next task's.
func packAddrs(tasks []Task) {
	nets, addrs := 0, 0
	for i := range tasks {
		nets += len(tasks[i].Addresses)
		for _, na := range tasks[i].Addresses {
			addrs += len(na.Addrs)
		}
	}
	netArr := make([]NetworkAddrs, 0, nets)
	addrArr := make([]netip.Addr, 0, addrs)
	for i := range tasks {
		t := &tasks[i]
		if len(t.Addresses) == 0 {
			continue
		}
		first := len(netArr)
		for _, na := range t.Addresses {
			if len(na.Addrs) > 0 {
				a := len(addrArr)
				addrArr = append(addrArr, na.Addrs...)
				na.Addrs = addrArr[a:len(addrArr):len(addrArr)]
			}
			netArr = append(netArr, na)
		}
		t.Addresses = netArr[first:len(netArr):len(netArr)]
	}
}
