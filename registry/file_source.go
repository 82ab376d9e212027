package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v3"
)

// The registry file, as docs/registry-file.md describes it.
type fileRegistry struct {
	LocalNode string        `yaml:"local_node"`
	Networks  []fileNetwork `yaml:"networks"`
	Nodes     []fileNode    `yaml:"nodes"`
	Services  []fileService `yaml:"services"`
}

type fileNetwork struct {
	ID      string   `yaml:"id"`
	Name    string   `yaml:"name"`
	Subnets []string `yaml:"subnets"`
	Ingress bool     `yaml:"ingress"`
}

type fileNode struct {
	ID       string            `yaml:"id"`
	Hostname string            `yaml:"hostname"`
	Labels   map[string]string `yaml:"labels"`
}

type fileService struct {
	ID           string               `yaml:"id"`
	Name         string               `yaml:"name"`
	Mode         string               `yaml:"mode"`
	EndpointMode string               `yaml:"endpoint_mode"`
	Labels       map[string]string    `yaml:"labels"`
	Ports        []filePort           `yaml:"ports"`
	Networks     []fileServiceNetwork `yaml:"networks"`
	Tasks        []fileTask           `yaml:"tasks"`
}

type filePort struct {
	Name      string `yaml:"name"`
	Protocol  string `yaml:"protocol"`
	Target    int    `yaml:"target"`
	Published int    `yaml:"published"`
}

type fileServiceNetwork struct {
	Name    string   `yaml:"name"`
	Aliases []string `yaml:"aliases"`
	VIP     string   `yaml:"vip"`
}

type fileTask struct {
	ID        string              `yaml:"id"`
	Slot      int                 `yaml:"slot"`
	Node      string              `yaml:"node"`
	State     string              `yaml:"state"`
	Addresses map[string][]string `yaml:"addresses"`
}

// taskStates are Swarm's task states; only running is published.
var taskStates = map[string]bool{
	"new": true, "pending": true, "assigned": true, "accepted": true, "preparing": true,
	"ready": true, "starting": true, "running": true, "complete": true, "shutdown": true,
	"failed": true, "rejected": true, "remove": true, "orphaned": true,
}

// LoadFile reads and validates a registry file. Errors name the file, the
// line and the reason; every problem found is reported, not just the first.
func LoadFile(path string) (*Data, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read registry %s: %w", path, err)
	}
	return ParseFile(path, raw)
}

// ParseFile parses registry file contents; path only names it in errors.
func ParseFile(path string, raw []byte) (*Data, error) {
	var f fileRegistry
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlErrors(path, err)
	}
	v := &validator{path: path, strs: interner{}}
	d := v.data(&f)
	if len(v.errs) == 0 {
		return d, nil
	}
	// Lines matter only for errors, and the node tree that has them is
	// several times the size of the data: read it only now, and validate
	// again with it.
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, yamlErrors(path, err)
	}
	v = &validator{path: path, root: &root, strs: interner{}}
	v.data(&f)
	return nil, errors.Join(v.errs...)
}

// yamlErrors turns the decoder's "yaml: line 3: reason" messages into
// "path:3: reason", one error per problem.
func yamlErrors(path string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if num, reason, ok := strings.Cut(rest, ": "); ok {
				errs = append(errs, fmt.Errorf("%s:%s: %s", path, num, reason))
				continue
			}
		}
		errs = append(errs, fmt.Errorf("%s: %s", path, m))
	}
	return errors.Join(errs...)
}

type validator struct {
	path string
	root *yaml.Node
	errs []error
	// strs shares the strings many tasks repeat (node IDs, states, port
	// names) across the Data.
	strs interner
	// Scratch space reused from task to task.
	netNames []string
	addrs    []netip.Addr
}

func (v *validator) errorf(line int, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s:%d: %s", v.path, line, fmt.Sprintf(format, args...)))
}

// node finds the YAML node at a path of mapping keys and sequence indices,
// for the line of an error; it returns the deepest node it reached.
func (v *validator) line(path ...any) int {
	n := v.root
	if n == nil {
		return 0 // first pass, before any error
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return n.Line
}

func (v *validator) data(f *fileRegistry) *Data {
	d := &Data{LocalNode: f.LocalNode}
	netByName := map[string]string{}
	for i, n := range f.Networks {
		line := v.line("networks", i)
		if n.Name == "" {
			v.errorf(line, "network has no name")
			continue
		}
		if err := checkLabel(strings.ToLower(n.Name)); err != nil {
			v.errorf(line, "network %q: %v", n.Name, err)
		}
		id := n.ID
		if id == "" {
			id = n.Name
		}
		if _, dup := netByName[strings.ToLower(n.Name)]; dup {
			v.errorf(line, "network %q defined twice", n.Name)
		}
		netByName[strings.ToLower(n.Name)] = id
		nw := Network{ID: id, Name: n.Name, Ingress: n.Ingress}
		for j, s := range n.Subnets {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				v.errorf(v.line("networks", i, "subnets", j), "network %q: subnet %q is not a CIDR prefix", n.Name, s)
				continue
			}
			nw.Subnets = append(nw.Subnets, p)
		}
		d.Networks = append(d.Networks, nw)
	}
	nodes := map[string]bool{}
	for i, n := range f.Nodes {
		line := v.line("nodes", i)
		if n.ID == "" {
			v.errorf(line, "node has no id")
			continue
		}
		if nodes[n.ID] {
			v.errorf(line, "node %q defined twice", n.ID)
		}
		nodes[n.ID] = true
		if w, ok := n.Labels[LabelWeight]; ok {
			if _, err := parseWeight(w); err != nil {
				v.errorf(v.line("nodes", i, "labels"), "node %q: label %s: %v", n.ID, LabelWeight, err)
			}
		}
		d.Nodes = append(d.Nodes, Node{ID: n.ID, Hostname: n.Hostname, Labels: nonEmpty(n.Labels)})
	}
	if f.LocalNode != "" && !nodes[f.LocalNode] {
		v.errorf(v.line("local_node"), "local_node %q is not a node", f.LocalNode)
	}
	// Sized up front: append's headroom on 100,000 tasks is megabytes the
	// Data would keep.
	tasks := 0
	for i := range f.Services {
		tasks += len(f.Services[i].Tasks)
	}
	d.Services, d.Tasks = slices.Grow(d.Services, len(f.Services)), slices.Grow(d.Tasks, tasks)
	svcNames, svcIDs, taskIDs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range f.Services {
		v.service(d, &f.Services[i], i, netByName, nodes, svcNames, svcIDs, taskIDs)
	}
	packAddrs(d.Tasks)
	return d
}

func (v *validator) service(d *Data, fs *fileService, i int, netByName map[string]string, nodes, names, ids, taskIDs map[string]bool) {
	line := v.line("services", i)
	if fs.Name == "" {
		v.errorf(line, "service has no name")
		return
	}
	if err := checkLabel(strings.ToLower(fs.Name)); err != nil {
		v.errorf(line, "service %q: %v", fs.Name, err)
	}
	if names[strings.ToLower(fs.Name)] {
		v.errorf(line, "service %q defined twice", fs.Name)
	}
	names[strings.ToLower(fs.Name)] = true
	svc := Service{ID: fs.ID, Name: fs.Name, Labels: nonEmpty(fs.Labels), EndpointMode: ModeVIP}
	if svc.ID == "" {
		svc.ID = fs.Name
	}
	if ids[svc.ID] {
		v.errorf(line, "service id %q used twice", svc.ID)
	}
	ids[svc.ID] = true
	switch fs.EndpointMode {
	case "", ModeVIP:
	case ModeDNSRR:
		svc.EndpointMode = ModeDNSRR
	default:
		v.errorf(v.line("services", i, "endpoint_mode"), "service %q: endpoint_mode %q: want vip or dnsrr", fs.Name, fs.EndpointMode)
	}
	switch fs.Mode {
	case "", "replicated":
	case "global":
		svc.Global = true
	default:
		v.errorf(v.line("services", i, "mode"), "service %q: mode %q: want replicated or global", fs.Name, fs.Mode)
	}
	v.labels(fs, i)
	for j, p := range fs.Ports {
		pl := v.line("services", i, "ports", j)
		port := Port{Name: v.strs.get(strings.ToLower(p.Name)), Protocol: v.strs.get(strings.ToLower(p.Protocol))}
		if port.Protocol == "" {
			port.Protocol = "tcp"
		}
		if p.Target < 1 || p.Target > 65535 || p.Published < 0 || p.Published > 65535 {
			v.errorf(pl, "service %q: port %d: target must be 1-65535 and published 0-65535", fs.Name, p.Target)
			continue
		}
		port.Target, port.Published = uint16(p.Target), uint16(p.Published)
		if err := checkPort(port); err != nil {
			v.errorf(pl, "service %q: %v", fs.Name, err)
			continue
		}
		svc.Ports = append(svc.Ports, port)
	}
	onNet := map[string]bool{}
	for j, n := range fs.Networks {
		nl := v.line("services", i, "networks", j)
		id, ok := netByName[strings.ToLower(n.Name)]
		if !ok {
			v.errorf(nl, "service %q: network %q is not in networks", fs.Name, n.Name)
			continue
		}
		onNet[id] = true
		for _, a := range n.Aliases {
			if err := checkName(strings.ToLower(a)); err != nil {
				v.errorf(nl, "service %q: alias: %v", fs.Name, err)
			}
		}
		svc.Networks = append(svc.Networks, Attachment{Network: id, Aliases: n.Aliases})
		if n.VIP != "" {
			a, err := netip.ParseAddr(n.VIP)
			switch {
			case err != nil:
				v.errorf(v.line("services", i, "networks", j, "vip"), "service %q: vip %q is not an IP address", fs.Name, n.VIP)
			case svc.EndpointMode == ModeDNSRR:
				v.errorf(v.line("services", i, "networks", j, "vip"), "service %q: a dnsrr service has no vip", fs.Name)
			default:
				svc.SetVIP(id, a)
			}
		}
	}
	for j, ft := range fs.Tasks {
		tl := v.line("services", i, "tasks", j)
		t := Task{ID: ft.ID, ServiceID: svc.ID, Slot: ft.Slot, NodeID: v.strs.get(ft.Node), State: v.strs.get(ft.State)}
		if t.State == "" {
			t.State = TaskRunning
		}
		switch {
		case t.ID == "":
			v.errorf(tl, "service %q: task has no id", fs.Name)
		case taskIDs[t.ID]:
			v.errorf(tl, "service %q: task id %q used twice", fs.Name, t.ID)
		case checkLabel(strings.ToLower(t.ID)) != nil:
			v.errorf(tl, "service %q: task id %q: %v", fs.Name, t.ID, checkLabel(strings.ToLower(t.ID)))
		}
		taskIDs[t.ID] = true
		if !taskStates[t.State] {
			v.errorf(tl, "service %q: task %q: state %q is not a Swarm task state", fs.Name, t.ID, t.State)
		}
		switch {
		case svc.Global && t.Slot != 0:
			v.errorf(tl, "service %q: task %q: a global service's task has no slot", fs.Name, t.ID)
		case svc.Global && t.NodeID == "":
			v.errorf(tl, "service %q: task %q: a global service's task needs a node", fs.Name, t.ID)
		case !svc.Global && t.Slot < 1:
			v.errorf(tl, "service %q: task %q: slot must be 1 or more", fs.Name, t.ID)
		}
		if t.NodeID != "" && !nodes[t.NodeID] {
			v.errorf(tl, "service %q: task %q: node %q is not in nodes", fs.Name, t.ID, t.NodeID)
		}
		// In name order: two spellings of one network add up the same
		// way every time.
		v.netNames = v.netNames[:0]
		for netName := range ft.Addresses {
			v.netNames = append(v.netNames, netName)
		}
		slices.Sort(v.netNames)
		for _, netName := range v.netNames {
			id, ok := netByName[strings.ToLower(netName)]
			if !ok || !onNet[id] {
				v.errorf(v.line("services", i, "tasks", j, "addresses"), "service %q: task %q: network %q is not one of the service's networks", fs.Name, t.ID, netName)
				continue
			}
			v.addrs = v.addrs[:0]
			for _, s := range ft.Addresses[netName] {
				a, err := netip.ParseAddr(s)
				if err != nil {
					v.errorf(v.line("services", i, "tasks", j, "addresses", netName), "service %q: task %q: address %q is not an IP address", fs.Name, t.ID, s)
					continue
				}
				v.addrs = append(v.addrs, a)
			}
			t.AddAddrs(id, v.addrs...)
		}
		d.Tasks = append(d.Tasks, t)
	}
	d.Services = append(d.Services, svc)
}

// labels checks the values of the swarmdns.* labels a file sets, so that
// `swarmdns check` reports them; Swarm's own labels are checked at build.
func (v *validator) labels(fs *fileService, i int) {
	ll := v.line("services", i, "labels")
	for k, val := range fs.Labels {
		var err error
		switch k {
		case LabelWeight:
			_, err = parseWeight(val)
		case LabelPorts:
			_, err = ParsePorts(val)
		case LabelTTL:
			_, err = parseTTL(val)
		case LabelResolve:
			if val != "tasks" && val != "vip" {
				err = fmt.Errorf("%q: want tasks or vip", val)
			}
		}
		if err != nil {
			v.errorf(ll, "service %q: label %s: %v", fs.Name, k, err)
		}
	}
}

// FileSource reads the registry from a YAML file and reloads it when the
// file changes or Reload is called. A file that fails to load on reload is
// reported and the previous data keeps serving.
type FileSource struct {
	Path string
	Log  *logrus.Entry
	// Debounce groups the bursts of events an editor's save makes.
	Debounce time.Duration
	reload   chan struct{}
}

// NewFileSource returns a source for the file at path.
func NewFileSource(path string, log *logrus.Entry) *FileSource {
	return &FileSource{Path: path, Log: log, Debounce: 100 * time.Millisecond, reload: make(chan struct{}, 1)}
}

// Reload asks Run to read the file again (SIGHUP).
func (f *FileSource) Reload() {
	select {
	case f.reload <- struct{}{}:
	default:
	}
}

// Run implements Source. The first load must succeed; later failures
// keep the last good data.
func (f *FileSource) Run(ctx context.Context, sink Sink) error {
	// Watch before the first load, so no change slips in between. Watch
	// the directory: editors and config managers replace the file by
	// renaming a new one over it, which ends a watch on the file itself.
	abs, err := filepath.Abs(f.Path)
	if err != nil {
		return fmt.Errorf("watch registry %s: %w", f.Path, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch registry %s: %w", f.Path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watch registry %s: %w", f.Path, err)
	}
	// A watched file changes when the file does: it is never stale.
	sink.Describe(SourceInfo{Kind: "file", Origin: f.Path})
	start := time.Now()
	d, err := LoadFile(f.Path)
	if err != nil {
		return err
	}
	sink.Update(d)
	sink.Synced(time.Since(start))
	f.Log.WithFields(logrus.Fields{"file": f.Path, "services": len(d.Services), "tasks": len(d.Tasks)}).Info("registry file loaded")

	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) != abs || ev.Op == fsnotify.Chmod {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(f.Debounce)
			} else {
				timer.Reset(f.Debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			f.Log.WithError(err).WithField("file", f.Path).Warn("registry file watch error")
		case <-fire:
			fire = nil
			f.load(sink)
		case <-f.reload:
			f.load(sink)
		}
	}
}

func (f *FileSource) load(sink Sink) {
	start := time.Now()
	d, err := LoadFile(f.Path)
	if err != nil {
		f.Log.WithError(err).WithField("file", f.Path).Error("registry file rejected; serving the previous data")
		sink.Failed(err)
		return
	}
	sink.Update(d)
	sink.Synced(time.Since(start))
	f.Log.WithFields(logrus.Fields{"file": f.Path, "services": len(d.Services), "tasks": len(d.Tasks)}).Info("registry file reloaded")
}
