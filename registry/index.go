package registry

import "hash/maphash"

// nameIndex maps name keys to entries: an open-addressing hash table
// (linear probing) of entry numbers over keys kept in one byte arena. It
// holds no pointers but its three slices, so a registry of a million names
// costs the garbage collector nothing to trace, and a lookup is one hash
// and, nearly always, one key comparison.
type nameIndex struct {
	// slots hold an entry's hash in the high half and its number + 1 in
	// the low half; 0 is a free slot. A probe compares hashes without
	// touching the entries.
	slots []uint64
	names []nameEnt
	keys  []byte
	used  int // entries in slots
}

// nameEnt is one name: its key in the arena and its views.
type nameEnt struct {
	key   uint32 // offset in keys
	hash  uint32
	view  uint32 // first view in Snapshot.views
	nview uint16
	klen  uint8
	// unindexed entries are not in slots (task names, see lookup.go).
	unindexed bool
}

// seed is the process's hash seed: a client cannot choose names that
// collide.
var seed = maphash.MakeSeed()

func hashKey(key []byte) uint32 {
	h := maphash.Bytes(seed, key)
	return uint32(h) ^ uint32(h>>32)
}

// The table is kept at most 70% full; it starts 50% full when the
// estimate of its names is right.
const (
	maxLoad10   = 7
	startLoad10 = 5
)

// newNameIndex returns an index sized for about indexed names in the
// table among n names in all.
func newNameIndex(indexed, n, keyBytes int) nameIndex {
	return nameIndex{
		slots: make([]uint64, max(64, indexed*10/startLoad10)),
		names: make([]nameEnt, 0, n),
		keys:  make([]byte, 0, keyBytes),
	}
}

// home is the first slot to probe for hash h: h scaled to the table
// (Lemire's multiply-shift), so the size need not be a power of two.
func (x *nameIndex) home(h uint32) int {
	return int(uint64(h) * uint64(len(x.slots)) >> 32)
}

func (x *nameIndex) key(e *nameEnt) []byte {
	return x.keys[e.key : e.key+uint32(e.klen) : e.key+uint32(e.klen)]
}

// find returns the entry number of key (whose hash is h), or -1.
func (x *nameIndex) find(key []byte, h uint32) int32 {
	if len(x.slots) == 0 {
		return -1
	}
	for i := x.home(h); ; i++ {
		if i == len(x.slots) {
			i = 0
		}
		s := x.slots[i]
		if s == 0 {
			return -1
		}
		if uint32(s>>32) != h {
			continue
		}
		num := uint32(s) - 1
		e := &x.names[num]
		if int(e.klen) == len(key) && string(x.keys[e.key:e.key+uint32(e.klen)]) == string(key) {
			return int32(num)
		}
	}
}

// intern returns the entry number of key, adding the key to the arena and
// a new entry when it is not there; added reports which.
func (x *nameIndex) intern(key []byte) (n int32, added bool) {
	h := hashKey(key)
	if n = x.find(key, h); n >= 0 {
		return n, false
	}
	off := uint32(len(x.keys))
	x.keys = append(x.keys, key...)
	return x.insert(off, len(key), h), true
}

// insert adds an entry for the key at keys[off:off+n], known to be absent.
func (x *nameIndex) insert(off uint32, n int, h uint32) int32 {
	if 10*(x.used+1) > maxLoad10*len(x.slots) {
		x.grow()
	}
	x.used++
	num := int32(len(x.names))
	x.names = append(x.names, nameEnt{key: off, klen: uint8(n), hash: h})
	x.put(h, num)
	return num
}

func (x *nameIndex) put(h uint32, num int32) {
	i := x.home(h)
	for x.slots[i] != 0 {
		if i++; i == len(x.slots) {
			i = 0
		}
	}
	x.slots[i] = uint64(h)<<32 | uint64(num+1)
}

func (x *nameIndex) grow() {
	x.slots = make([]uint64, max(64, 2*len(x.slots)))
	for num := range x.names {
		if !x.names[num].unindexed {
			x.put(x.names[num].hash, int32(num))
		}
	}
}

// addrIndex maps addresses to name numbers: a nameIndex over the
// addresses' 16 bytes, with the name of each of its entries.
type addrIndex struct {
	ips   nameIndex
	names []int32
}

func newAddrIndex(n int) addrIndex {
	return addrIndex{ips: newNameIndex(n, n, 16*n), names: make([]int32, 0, n)}
}

func hashIP(ip *[16]byte) uint32 { return hashKey(ip[:]) }

// find returns the name of ip (whose hash is h), or -1.
func (x *addrIndex) find(ip *[16]byte, h uint32) int32 {
	e := x.ips.find(ip[:], h)
	if e < 0 {
		return -1
	}
	return x.names[e]
}

// add adds ip, known to be absent, for the name.
func (x *addrIndex) add(ip *[16]byte, h uint32, name int32) {
	off := uint32(len(x.ips.keys))
	x.ips.keys = append(x.ips.keys, ip[:]...)
	x.ips.insert(off, len(ip), h)
	x.names = append(x.names, name)
}
