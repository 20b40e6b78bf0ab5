import Foundation
import Spec

/// Where one resource stands after the last pass, as `berth status` and `/status` show it.
public struct ResourceCondition: Sendable, Equatable {
    public enum State: String, Sendable, Equatable, CaseIterable {
        /// Applied as declared.
        case ready = "Ready"
        /// Recorded, but something it needs is not there yet (no runtime, no issuer).
        case progressing = "Progressing"
        /// Could not be applied; retried with backoff.
        case failed = "Failed"
    }

    public var state: State
    /// A short machine-readable word: `Applied`, `Unchanged`, `ports-exhausted`, `Pending`…
    public var reason: String
    public var message: String
    /// When `state` last changed (not when it was last looked at).
    public var since: Date
    /// For failed resources: consecutive failures and when the next attempt is due.
    public var failures: Int
    public var nextRetry: Date?

    public init(state: State, reason: String, message: String = "", since: Date, failures: Int = 0, nextRetry: Date? = nil) {
        self.state = state
        self.reason = reason
        self.message = message
        self.since = since
        self.failures = failures
        self.nextRetry = nextRetry
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "condition": .string(state.rawValue), "reason": .string(reason), "message": .string(message),
            "since": .string(Timestamps.string(since)), "failures": .int(failures),
        ]
        if let nextRetry { object["next_retry"] = .string(Timestamps.string(nextRetry)) }
        return .object(object)
    }

    public init?(json: JSONValue) {
        guard let state = json["condition"]?.stringValue.flatMap(State.init(rawValue:)),
              let since = json["since"]?.stringValue.flatMap(Timestamps.date) else { return nil }
        self.init(state: state, reason: json["reason"]?.stringValue ?? "", message: json["message"]?.stringValue ?? "",
                  since: since, failures: json["failures"]?.intValue ?? 0,
                  nextRetry: json["next_retry"]?.stringValue.flatMap(Timestamps.date))
    }
}

/// Exponential backoff with jitter for resources that fail on their own: base × 2^(n-1), capped,
/// then scaled by a random factor in [0.5, 1] so many failing resources do not retry in lockstep.
public struct RetryPolicy: Sendable, Equatable {
    public var base: TimeInterval
    public var maximum: TimeInterval

    public init(base: TimeInterval = 2, maximum: TimeInterval = 300) {
        self.base = base
        self.maximum = maximum
    }

    /// Delay before the next attempt after the `failures`-th consecutive failure (1-based).
    /// `jitter` is a number in [0, 1]; tests pass fixed values.
    public func delay(afterFailures failures: Int, jitter: Double) -> TimeInterval {
        let exponent = Double(min(max(failures, 1) - 1, 30))
        let raw = min(maximum, base * pow(2, exponent))
        return raw * (0.5 + 0.5 * min(max(jitter, 0), 1))
    }
}

/// Folds one pass into the resource conditions. Pure: the controller hands it the plan, what the
/// applier reported and the clock.
public enum ConditionTracker {
    public static func update(_ previous: [ResourceID: ResourceCondition], plan: Plan, report: ApplyReport?,
                              retry: RetryPolicy, now: Date, jitter: () -> Double) -> [ResourceID: ResourceCondition] {
        var next: [ResourceID: ResourceCondition] = [:]
        let heldBack = Set(report?.heldBack ?? [])
        for change in plan.changes where change.action != .delete {
            let old = previous[change.id]
            func moved(_ state: ResourceCondition.State, _ reason: String, _ message: String) -> ResourceCondition {
                let since = old?.state == state && old?.reason == reason ? old!.since : now
                return ResourceCondition(state: state, reason: reason, message: message, since: since)
            }
            if let failure = report?.failures[change.id] {
                let failures = (old?.state == .failed ? old!.failures : 0) + 1
                var condition = ResourceCondition(state: .failed, reason: failure.code, message: failure.description,
                                                  since: old?.state == .failed ? old!.since : now, failures: failures)
                condition.nextRetry = now.addingTimeInterval(max(retry.delay(afterFailures: failures, jitter: jitter()), failure.retryAfter ?? 0))
                next[change.id] = condition
            } else if heldBack.contains(change.id), let old {
                next[change.id] = old  // still waiting for its retry
            } else if change.id.kind == .domain, let issued = report?.certificates[change.id.name] {
                next[change.id] = moved(.ready, "CertificateIssued", "certificate for \(issued.sans.joined(separator: ", ")) (\(issued.source.rawValue), sha256 \(issued.fingerprint.prefix(16))…) valid until \(Timestamps.string(issued.notAfter))")
            } else if !change.pending.isEmpty {
                next[change.id] = moved(.progressing, "Pending", change.pending.joined(separator: "; "))
            } else if change.action == .noop {
                next[change.id] = old?.state == .ready ? old! : moved(.ready, "Unchanged", "as declared")
            } else {
                let what = change.reasons.map(\.message).joined(separator: "; ")
                next[change.id] = moved(.ready, "Applied", "\(change.action.rawValue): \(what)")
            }
        }
        return next
    }

    /// Resources whose retry is not yet due: the applier leaves them as they are this pass.
    public static func waiting(_ conditions: [ResourceID: ResourceCondition], now: Date) -> Set<ResourceID> {
        Set(conditions.compactMap { id, condition in
            condition.state == .failed && (condition.nextRetry ?? .distantPast) > now ? id : nil
        })
    }
}

/// RFC 3339 timestamps in UTC with milliseconds, as every status field uses. Formatting is done by
/// hand (a status of 20,000 resources formats 20,000 of them; a formatter object each is slow).
public enum Timestamps {
    public static func string(_ date: Date) -> String {
        var milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        milliseconds -= seconds * 1000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(Int(milliseconds), 3); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    public static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
