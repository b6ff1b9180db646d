package postgres

// OutboxStatements are the outbox statements, for the plan tests.
var OutboxStatements = map[string]string{
	"claim":         claimDue,
	"claim waiting": claimWaiting,
	"mark sent":     markSentBatch,
	"mark retry":    markRetry,
	"mark dead":     markDead,
	"stats":         outboxStats,
}
