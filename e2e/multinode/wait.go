//go:build multinode

package multinode

import (
	"context"
	"fmt"
	"time"
)

// Eventually calls check every interval until it returns nil, and fails
// with check's last error once timeout has passed or ctx is done.
func Eventually(ctx context.Context, timeout, interval time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s: %w", timeout, err)
		case <-time.After(interval):
		}
	}
}

// Since measures how long after start check first returns nil, polling
// every interval for at most timeout; the time is when the successful check
// began, so it errs early by at most the time one check takes.
func Since(ctx context.Context, start time.Time, timeout, interval time.Duration, check func(context.Context) error) (time.Duration, error) {
	var at time.Time
	err := Eventually(ctx, timeout, interval, func(ctx context.Context) error {
		t := time.Now()
		if err := check(ctx); err != nil {
			return err
		}
		at = t
		return nil
	})
	return at.Sub(start), err
}
