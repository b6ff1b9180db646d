// Package registrationtest holds what tests of the domain share: an in-memory
// registration.Store, the contract every Store must keep (RunStoreContract, run over the in-memory
// store here and over PostgreSQL in internal/postgres), and a clock tests move by hand.
package registrationtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// Store is an in-memory registration.Store. It applies the changes a domain function records
// as the PostgreSQL store writes them, each to its own effect, all or none; one mutex stands
// for the address locks, so calls take turns. Outgoing emails and events are kept as
// Messages, which Deliver and GiveUp settle as a dispatcher would.
type Store struct {
	mu    sync.Mutex
	state state
}

var _ registration.Store = (*Store)(nil)

// Message is an email or an event committed to the outbox.
type Message struct {
	ID int64
	// UserID is the account the message is about. Deleting the account deletes its emails;
	// its events stay.
	UserID string
	// Email is the sealed email; zero for an event.
	Email registration.SealedEmail
	// Event is the encoded event; nil for an email.
	Event []byte
	// Sent is when the provider accepted it, nil while it waits; Dead is set when it was
	// given up on.
	Sent *time.Time
	Dead bool
}

// state is everything the store holds; an update works on a copy and keeps it when the whole
// change set applied.
type state struct {
	accounts map[string]*registration.Account // by address
	issued   map[string][]time.Time           // each address's quota history
	messages []Message
	codeMsg  map[codeRef]int64 // the message that carries each live code
	receipts map[[3]string][]byte
	nextID   int64
}

type codeRef struct {
	userID string
	kind   registration.CodeKind
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{state: state{
		accounts: map[string]*registration.Account{},
		issued:   map[string][]time.Time{},
		codeMsg:  map[codeRef]int64{},
		receipts: map[[3]string][]byte{},
	}}
}

// UpdateAddress implements registration.Store.
func (s *Store) UpdateAddress(ctx context.Context, email string, fn func(*registration.Address) error) error {
	return s.update(ctx, []string{email}, func(a []*registration.Address) error { return fn(a[0]) })
}

// UpdateAddresses implements registration.Store.
func (s *Store) UpdateAddresses(ctx context.Context, from, to string, fn func(from, to *registration.Address) error) error {
	if from == to {
		return fmt.Errorf("update addresses: %q twice", from)
	}
	return s.update(ctx, []string{from, to}, func(a []*registration.Address) error { return fn(a[0], a[1]) })
}

func (s *Store) update(ctx context.Context, emails []string, fn func([]*registration.Address) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]*registration.Address, len(emails))
	for i, email := range emails {
		addrs[i] = &registration.Address{Email: email, Account: cloneAccount(s.state.accounts[email]),
			CodesIssued: slices.Clone(s.state.issued[email])}
	}
	if err := fn(addrs); err != nil {
		return err
	}
	next := s.state.clone()
	for _, a := range addrs {
		for _, c := range a.Changes() {
			if err := next.apply(a.Email, c); err != nil {
				return fmt.Errorf("update address: %w", err)
			}
		}
	}
	s.state = next
	return nil
}

// Account implements registration.Store.
func (s *Store) Account(ctx context.Context, email string) (registration.Account, error) {
	if err := ctx.Err(); err != nil {
		return registration.Account{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.state.accounts[email]
	if acct == nil {
		return registration.Account{}, registration.ErrNotFound
	}
	return *cloneAccount(acct), nil
}

// Messages returns the outbox's messages, oldest first.
func (s *Store) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.state.messages)
}

// Receipt returns the answer recorded for a request, and whether there is one.
func (s *Store) Receipt(scope, endpoint, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	answer, ok := s.state.receipts[[3]string{scope, endpoint, key}]
	return answer, ok
}

// Deliver settles every waiting email to recipient as accepted at at: the lifetime of the
// code each carries starts then. It returns how many it settled.
func (s *Store) Deliver(recipient string, at time.Time) int {
	return s.settle(recipient, func(m *Message) { m.Sent = &at })
}

// GiveUp settles every waiting email to recipient as given up on: the code each carries is
// undeliverable. It returns how many it settled.
func (s *Store) GiveUp(recipient string) int {
	return s.settle(recipient, func(m *Message) { m.Dead = true })
}

func (s *Store) settle(recipient string, mark func(*Message)) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	settled := 0
	for i := range s.state.messages {
		m := &s.state.messages[i]
		if m.Event != nil || m.Email.Recipient != recipient || m.Sent != nil || m.Dead {
			continue
		}
		mark(m)
		settled++
		for ref, id := range s.state.codeMsg {
			if id != m.ID {
				continue
			}
			if acct := s.state.byID(ref.userID); acct != nil && acct.Codes[ref.kind] != nil {
				c := acct.Codes[ref.kind]
				c.SentAt, c.Undeliverable = m.Sent, m.Dead
			}
		}
	}
	return settled
}

// apply writes change c, recorded on the address email, as the PostgreSQL store's statements
// would.
func (st *state) apply(email string, c registration.Change) error {
	switch c := c.(type) {
	case registration.CodeIssued:
		return st.issue(email, c)
	case registration.EmailQueued:
		st.queue(Message{UserID: c.UserID, Email: c.Email})
	case registration.EventQueued:
		st.queue(Message{UserID: c.AccountID, Event: c.Body})
	case registration.ReceiptRecorded:
		st.receipts[[3]string{c.Scope, c.Endpoint, c.Key}] = c.Answer
	case registration.EmailChanged:
		return st.move(c)
	default:
		return st.applyToAccount(c)
	}
	return nil
}

// applyToAccount writes c, a change of an account or of its codes.
func (st *state) applyToAccount(c registration.Change) error {
	switch c := c.(type) {
	case registration.AccountCreated:
		if c.Replaced != "" {
			st.deleteAccount(c.Replaced)
		}
		if st.accounts[c.Account.User.Email] != nil {
			return registration.ErrEmailTaken
		}
		acct := cloneAccount(&c.Account)
		acct.Codes = nil
		st.accounts[acct.User.Email] = acct
	case registration.AttemptCounted:
		if code := st.code(c.UserID, c.Kind); code != nil {
			code.Attempts = c.Attempts
		}
	case registration.CodeSpent:
		st.dropCode(c.UserID, c.Kind)
	case registration.Activated:
		if acct := st.byID(c.UserID); acct != nil {
			at := c.At
			acct.User.Status, acct.User.ActivatedAt = registration.StatusActive, &at
		}
		st.dropCode(c.UserID, registration.CodeActivation)
	case registration.PasswordRehashed:
		if acct := st.byID(c.UserID); acct != nil && acct.PasswordHash == c.Old {
			acct.PasswordHash = c.New
		}
	case registration.PasswordChanged:
		if acct := st.byID(c.UserID); acct != nil {
			acct.PasswordHash = c.Hash
		}
	case registration.AccountDeleted:
		st.deleteAccount(c.UserID)
	default:
		return fmt.Errorf("unknown change %T", c)
	}
	return nil
}

// issue carries out a CodeIssued recorded on the address email: the code replaces the
// account's earlier one of its kind, and the email carrying it is queued.
func (st *state) issue(email string, c registration.CodeIssued) error {
	acct := st.byID(c.UserID)
	if acct == nil {
		return fmt.Errorf("code for unknown account %s", c.UserID)
	}
	id := st.queue(Message{UserID: c.UserID, Email: c.Email})
	code := c.Code
	if acct.Codes == nil {
		acct.Codes = map[registration.CodeKind]*registration.Code{}
	}
	acct.Codes[code.Kind] = &code
	st.codeMsg[codeRef{c.UserID, code.Kind}] = id
	st.issued[email] = slices.Clone(c.History)
	return nil
}

// move carries out an EmailChanged: the account leaves its old address, without its codes.
func (st *state) move(c registration.EmailChanged) error {
	acct := st.byID(c.UserID)
	if acct == nil {
		return fmt.Errorf("move of unknown account %s", c.UserID)
	}
	if st.accounts[c.New] != nil {
		return registration.ErrEmailTaken
	}
	for kind := range acct.Codes {
		st.dropCode(c.UserID, kind)
	}
	delete(st.accounts, acct.User.Email)
	acct.User.Email = c.New
	st.accounts[c.New] = acct
	return nil
}

// deleteAccount removes the account id, its codes and every email about it; events stay.
func (st *state) deleteAccount(id string) {
	acct := st.byID(id)
	if acct == nil {
		return
	}
	delete(st.accounts, acct.User.Email)
	for ref := range st.codeMsg {
		if ref.userID == id {
			delete(st.codeMsg, ref)
		}
	}
	st.messages = slices.DeleteFunc(st.messages, func(m Message) bool { return m.UserID == id && m.Event == nil })
}

func (st *state) queue(m Message) int64 {
	st.nextID++
	m.ID = st.nextID
	st.messages = append(st.messages, m)
	return m.ID
}

func (st *state) byID(id string) *registration.Account {
	for _, acct := range st.accounts {
		if acct.User.ID == id {
			return acct
		}
	}
	return nil
}

func (st *state) code(userID string, kind registration.CodeKind) *registration.Code {
	if acct := st.byID(userID); acct != nil {
		return acct.Codes[kind]
	}
	return nil
}

func (st *state) dropCode(userID string, kind registration.CodeKind) {
	if acct := st.byID(userID); acct != nil {
		delete(acct.Codes, kind)
	}
	delete(st.codeMsg, codeRef{userID, kind})
}

// clone returns a deep copy of st, for an update to change.
func (st *state) clone() state {
	next := state{
		accounts: make(map[string]*registration.Account, len(st.accounts)),
		issued:   maps.Clone(st.issued),
		messages: slices.Clone(st.messages),
		codeMsg:  maps.Clone(st.codeMsg),
		receipts: maps.Clone(st.receipts),
		nextID:   st.nextID,
	}
	for email, acct := range st.accounts {
		next.accounts[email] = cloneAccount(acct)
	}
	return next
}

// cloneAccount returns a deep copy of acct, or nil.
func cloneAccount(acct *registration.Account) *registration.Account {
	if acct == nil {
		return nil
	}
	out := *acct
	if acct.User.ActivatedAt != nil {
		at := *acct.User.ActivatedAt
		out.User.ActivatedAt = &at
	}
	if acct.Codes != nil {
		out.Codes = make(map[registration.CodeKind]*registration.Code, len(acct.Codes))
		for kind, c := range acct.Codes {
			code := *c
			out.Codes[kind] = &code
		}
	}
	return &out
}
