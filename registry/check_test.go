package registry

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestCheckDataFindsWhatCannotBeTrueOfASwarm(t *testing.T) {
	running := func(id string, slot int, a ...string) Task {
		return Task{ID: id, ServiceID: "s", Slot: slot, State: TaskRunning, Addresses: addrs(a...)}
	}
	dnsrr := Service{ID: "s", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	tests := []struct {
		name  string
		svc   Service
		tasks []Task
		nodes []Node
		want  []string // each problem, as logged; none: the data is good
	}{
		{"good data has no problem", dnsrr, []Task{running("t1", 1, "10.1.0.1"), running("t2", 2, "10.1.0.2")}, nil, nil},
		{"two running tasks in one slot", dnsrr, []Task{running("t1", 1, "10.1.0.1"), running("t2", 1, "10.1.0.2")}, nil,
			[]string{"service web: task t2: slot 1 has another running task, t1"}},
		{"a stopped task beside a running one in its slot is an update", dnsrr,
			[]Task{running("t1", 1, "10.1.0.1"), {ID: "t0", ServiceID: "s", Slot: 1, State: "shutdown"}}, nil, nil},
		{"one address on two running tasks of a network", dnsrr, []Task{running("t1", 1, "10.1.0.1"), running("t2", 2, "10.1.0.1")}, nil,
			[]string{"service web: task t2: address 10.1.0.1 on network net1 is also task t1's (service web)"}},
		{"an address outside its network's subnets", dnsrr, []Task{running("t1", 1, "10.9.0.1")}, nil,
			[]string{"service web: task t1: address 10.9.0.1 is outside network net1's subnets (10.1.0.0/24)"}},
		{"a vip-mode service without a VIP on its network", Service{ID: "s", Name: "web", EndpointMode: ModeVIP, Networks: []Attachment{{Network: "n1"}, {Network: "ing"}}}, nil, nil,
			[]string{"service web: no VIP on network net1, which a vip-mode service needs for its name there (or use endpoint mode dnsrr)"}},
		{"a misspelt scheduler label", Service{ID: "s", Name: "web", EndpointMode: ModeDNSRR, Labels: map[string]string{LabelScheduler: "weigthed"}}, nil, nil,
			[]string{`service web: label swarmdns.scheduler: "weigthed" is not a scheduler; use one of random, roundrobin, weighted; did you mean weighted?`}},
		{"a bad node weight", dnsrr, nil, []Node{{ID: "n9", Hostname: "worker-9", Labels: map[string]string{LabelWeight: "big"}}},
			[]string{`node worker-9: label swarmdns.weight: weight "big": want an integer from 0 to 65535`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := data([]Service{tt.svc}, tt.tasks, tt.nodes...)
			var got []string
			for _, p := range CheckData(d) {
				got = append(got, p.String(d))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// storeWithLog is a store whose log is kept, with --network set to nets.
func storeWithLog(t *testing.T, nets ...string) (*Store, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	s, err := NewStore(Config{Domain: "swarm.internal.", Networks: nets}, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	return s, &buf
}

// From a source that cannot refuse its data, a problem is a warning,
// logged when it appears and not again at every publish, and a bad label
// value is counted by label.
func TestStoreWarnsOfAProblemOnceAndCountsLabelErrors(t *testing.T) {
	s, buf := storeWithLog(t)
	bad := Service{ID: "s", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}, Labels: map[string]string{LabelScheduler: "weigthed"}}
	other := Service{ID: "o", Name: "api", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	dup := []Task{
		{ID: "t1", ServiceID: "s", Slot: 1, State: TaskRunning, Addresses: addrs("10.1.0.1")},
		{ID: "t2", ServiceID: "s", Slot: 1, State: TaskRunning, Addresses: addrs("10.1.0.2")},
	}
	s.Update(data([]Service{bad, other}, dup))
	// Another service changes: what is wrong with web is not news.
	more := append(dup, Task{ID: "t3", ServiceID: "o", Slot: 1, State: TaskRunning, Addresses: addrs("10.1.0.3")})
	s.Update(data([]Service{bad, other}, more))
	log := buf.String()
	if n := strings.Count(log, "weigthed"); n != 1 {
		t.Errorf("the bad label was logged %d times, want once:\n%s", n, log)
	}
	if n := strings.Count(log, "slot 1 has another running task"); n != 1 {
		t.Errorf("the shared slot was logged %d times, want once:\n%s", n, log)
	}
	if got := s.LabelErrors()[LabelScheduler]; got != 1 {
		t.Errorf("label errors of %s = %d, want 1", LabelScheduler, got)
	}
	// The label is fixed, then broken again in another way: logged again.
	bad.Labels = map[string]string{LabelScheduler: "fastest"}
	s.Update(data([]Service{bad, other}, more))
	if !strings.Contains(buf.String(), "fastest") {
		t.Errorf("a new bad value was not logged:\n%s", buf.String())
	}
	bad.Labels = nil
	s.Update(data([]Service{bad, other}, more))
	if got := s.LabelErrors()[LabelScheduler]; got != 0 {
		t.Errorf("label errors after the fix = %d, want 0", got)
	}
}

func TestNetworkFlagNamingNoNetworkIsAProblemUntilTheNetworkExists(t *testing.T) {
	s, buf := storeWithLog(t, "nosuchnet")
	svc := Service{ID: "s", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	s.Update(data([]Service{svc}, nil))
	const want = `--network "nosuchnet" names no network of the registry; it has net1`
	if got := s.NetworkProblem(); got != want {
		t.Fatalf("NetworkProblem = %q, want %q", got, want)
	}
	if !strings.Contains(buf.String(), "level=error") || !strings.Contains(buf.String(), "nosuchnet") {
		t.Errorf("not logged as an error:\n%s", buf.String())
	}
	d := data([]Service{svc}, nil)
	d.Networks = append(d.Networks, Network{ID: "x1", Name: "nosuchnet", Subnets: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}})
	s.Update(d)
	if got := s.NetworkProblem(); got != "" {
		t.Errorf("NetworkProblem = %q once the network exists", got)
	}
}

func TestACostlyCheckOfTheDataIsPutOffAndThenTakesTheNewestData(t *testing.T) {
	s, _ := storeWithLog(t)
	svc := Service{ID: "s", Name: "web", EndpointMode: ModeDNSRR, Networks: []Attachment{{Network: "n1"}}}
	s.Update(data([]Service{svc}, nil))
	// As if that check had cost what one of 100,000 tasks does.
	s.mu.Lock()
	s.problems.lastCost, s.problems.lastCheck = 50*time.Millisecond, time.Now()
	s.mu.Unlock()
	svc.Labels = map[string]string{LabelScheduler: "weigthed"}
	s.Update(data([]Service{svc}, nil))
	if got := s.LabelErrors()[LabelScheduler]; got != 0 {
		t.Fatalf("label errors right after a costly check = %d, want the check put off", got)
	}
	svc.Labels = map[string]string{LabelScheduler: "fastest", LabelTTL: "soon"}
	s.Update(data([]Service{svc}, nil))
	deadline := time.Now().Add(5 * time.Second)
	for s.LabelErrors()[LabelTTL] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the put-off check never reported the newest data: %v", s.LabelErrors())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
