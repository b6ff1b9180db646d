package registration

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventType names an account event for the rest of the product.
type EventType string

// The account events, one per change of an account.
const (
	EventCreated         EventType = "user.created"
	EventActivated       EventType = "user.activated"
	EventPasswordChanged EventType = "user.password_changed"
	EventEmailChanged    EventType = "user.email_changed"
	EventDeleted         EventType = "user.deleted"
)

// Why a password changed, as user.password_changed says.
const (
	PasswordReset  = "reset"
	PasswordChange = "change"
)

// Event is an account event as it is posted: the account's public data at the change, never a
// code, a password or a hash.
type Event struct {
	Type      EventType `json:"type"`
	Timestamp string    `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is the account an event is about, with what the change adds.
type EventData struct {
	ID          string  `json:"id"`
	Email       string  `json:"email"`
	Status      Status  `json:"status"`
	CreatedAt   string  `json:"created_at"`
	ActivatedAt *string `json:"activated_at"`
	// Reason is user.password_changed's: PasswordReset or PasswordChange.
	Reason string `json:"reason,omitempty"`
	// PreviousEmail is user.email_changed's: the address the account left.
	PreviousEmail string `json:"previous_email,omitempty"`
}

// NewEvent returns the event typ about u as of at; more fills what the type adds.
func NewEvent(typ EventType, u User, at time.Time, more func(*EventData)) Event {
	d := EventData{ID: u.ID, Email: u.Email, Status: u.Status, CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339)}
	if u.ActivatedAt != nil {
		activated := u.ActivatedAt.UTC().Format(time.RFC3339)
		d.ActivatedAt = &activated
	}
	if more != nil {
		more(&d)
	}
	return Event{Type: typ, Timestamp: at.UTC().Format(time.RFC3339), Data: d}
}

// EventQueued: Event, encoded as Body, is to be posted about account AccountID. Events outlive
// their account: deleting it leaves them be.
type EventQueued struct {
	AccountID string
	Type      EventType
	Email     string // the account's address, for operators listing what is queued
	Body      []byte
	At        time.Time
}

func (EventQueued) change() {}

// QueueEvent records e, about the account it names, to be posted.
func (a *Address) QueueEvent(e Event, at time.Time) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	a.changes = append(a.changes, EventQueued{AccountID: e.Data.ID, Type: e.Type, Email: e.Data.Email, Body: body, At: at})
	return nil
}

// emit records the event typ about u on a, as of at, when the policy keeps events.
func (s *Service) emit(a *Address, typ EventType, u User, at time.Time, more func(*EventData)) error {
	if !s.policy.Events {
		return nil
	}
	return a.QueueEvent(NewEvent(typ, u, at, more), at)
}
