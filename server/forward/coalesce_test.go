package forward

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestCoalescing(t *testing.T) {
	const n = 50
	tests := []struct {
		name      string
		cacheSize int
	}{
		{"identical concurrent queries share one upstream query (cache on)", 100},
		{"identical concurrent queries share one upstream query (cache off)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			u := startUpstream(t, func(q *dns.Msg, tcp bool) *dns.Msg {
				<-release
				return answerA(60, 2)(q, tcp)
			})
			f := newForwarder(t, Config{CacheSize: tt.cacheSize, MaxInflight: 1, Timeout: 5 * time.Second}, u.addr)
			k := key{name: "same.example.", qtype: dns.TypeA, qclass: dns.ClassINET}

			var wg sync.WaitGroup
			replies := make([]*dns.Msg, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					q := query("Same.Example.", dns.TypeA)
					q.Id = uint16(i + 1)
					m, err := f.Exchange(context.Background(), q, false)
					if err != nil {
						t.Errorf("query %d: %v", i, err)
						return
					}
					replies[i] = m
				}()
			}
			waitFor(t, func() bool { return f.flights.waiting(k) == n-1 })
			close(release)
			wg.Wait()

			if got := u.queries(); got != 1 {
				t.Errorf("%d concurrent identical queries reached upstream %d times, want 1", n, got)
			}
			for i, m := range replies {
				if m == nil {
					continue
				}
				if m.Id != uint16(i+1) || len(m.Answer) != 2 {
					t.Errorf("reply %d: id %d with %d answers, want id %d with 2", i, m.Id, len(m.Answer), i+1)
				}
			}
		})
	}
}

func TestCoalescedWaitersAreBounded(t *testing.T) {
	release := make(chan struct{})
	u := startUpstream(t, func(q *dns.Msg, tcp bool) *dns.Msg {
		<-release
		return answerA(60, 1)(q, tcp)
	})
	f := newForwarder(t, Config{MaxInflight: 1, Timeout: 5 * time.Second}, u.addr)
	f.maxWaiting = 3
	k := key{name: "same.example.", qtype: dns.TypeA, qclass: dns.ClassINET}
	var wg sync.WaitGroup
	for range 4 { // the leader and three waiters
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Exchange(context.Background(), query("same.example.", dns.TypeA), false); err != nil {
				t.Errorf("query within the bound: %v", err)
			}
		}()
	}
	waitFor(t, func() bool { return f.flights.waiting(k) == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := f.Exchange(ctx, query("same.example.", dns.TypeA), false); !errors.Is(err, ErrOverloaded) {
		t.Errorf("a waiter past the bound: err %v, want ErrOverloaded", err)
	}
	close(release)
	wg.Wait()
	if got := f.waiting.Load(); got != 0 {
		t.Errorf("%d waiters counted after every flight landed, want 0", got)
	}
}

func TestCoalescedWaiterGivesUpWithItsContext(t *testing.T) {
	release := make(chan struct{})
	u := startUpstream(t, func(q *dns.Msg, tcp bool) *dns.Msg {
		<-release
		return answerA(60, 1)(q, tcp)
	})
	f := newForwarder(t, Config{CacheSize: 10, Timeout: 5 * time.Second}, u.addr)
	k := key{name: "slow.example.", qtype: dns.TypeA, qclass: dns.ClassINET}

	leader := make(chan error, 1)
	go func() {
		_, err := f.Exchange(context.Background(), query("slow.example.", dns.TypeA), false)
		leader <- err
	}()
	waitFor(t, func() bool { return u.queries() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.Exchange(ctx, query("slow.example.", dns.TypeA), false); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter error %v, want its context's deadline", err)
	}
	close(release)
	if err := <-leader; err != nil {
		t.Errorf("leader: %v", err)
	}
	if f.flights.waiting(k) != 0 || len(f.flights.flights) != 0 {
		t.Errorf("flight left behind")
	}
}

func TestLeaderCancellationDoesNotFailWaiters(t *testing.T) {
	release := make(chan struct{})
	u := startUpstream(t, func(q *dns.Msg, tcp bool) *dns.Msg {
		<-release
		return answerA(60, 1)(q, tcp)
	})
	f := newForwarder(t, Config{Timeout: 5 * time.Second}, u.addr)
	k := key{name: "shared.example.", qtype: dns.TypeA, qclass: dns.ClassINET}

	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := f.Exchange(ctx, query("shared.example.", dns.TypeA), false)
		leader <- err
	}()
	waitFor(t, func() bool { return u.queries() == 1 })
	waiter := make(chan error, 1)
	go func() {
		_, err := f.Exchange(context.Background(), query("shared.example.", dns.TypeA), false)
		waiter <- err
	}()
	waitFor(t, func() bool { return f.flights.waiting(k) == 1 })
	cancel()
	time.Sleep(10 * time.Millisecond)
	close(release)
	if err := <-waiter; err != nil {
		t.Errorf("waiter failed because the leader's client went away: %v", err)
	}
	<-leader
}
