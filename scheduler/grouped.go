package scheduler

// Group is a subset of an answer's endpoints with its own Orderer, whose
// indices refer to Indices.
type Group struct {
	Indices []int
	Orderer Orderer
}

// Grouped answers every endpoint of the first group before any of the
// next, each group ordered by its own Orderer at the same rotation
// position: --prefer-local puts the tasks on this node first and still
// rotates within both groups.
func Grouped(groups ...Group) Orderer { return grouped(groups) }

type grouped []Group

func (g grouped) Order(dst []int, pos uint64, limit int) []int {
	base := len(dst)
	for _, grp := range g {
		left := 0
		if limit > 0 {
			if left = limit - (len(dst) - base); left <= 0 {
				break
			}
		}
		from := len(dst)
		dst = grp.Orderer.Order(dst, pos, left)
		for i := from; i < len(dst); i++ {
			dst[i] = grp.Indices[dst[i]]
		}
	}
	return dst
}
