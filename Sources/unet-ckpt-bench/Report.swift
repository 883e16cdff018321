import Foundation

/// The benchmark's table: per case, our median, the peer's, the ratio and whether the goal is met.
struct Report {
    /// What a case must reach.
    enum Goal {
        /// ours / peer at most `ratio` (and the stretch goal, if any); peak RSS at most `rss` bytes.
        case timeRatio(Double, stretch: Double? = nil, rss: Double? = nil)
        /// An absolute time, for a case without a peer.
        case seconds(Double)
    }

    struct Row {
        let name: String
        let peer: String
        let ours: Runs
        let peerRuns: Runs?
        let goal: Goal
        let notes: [String]

        var ratio: Double? { peerRuns.map { ours.median / $0.median } }

        var goalText: String {
            switch goal {
            case .timeRatio(let ratio, let stretch, let rss):
                var text = "≤ \(Report.number(ratio))×"
                if let stretch { text += " (stretch \(Report.number(stretch))×)" }
                if rss != nil { text += ", RSS" }
                return text
            case .seconds(let limit): return "≤ \(Report.seconds(limit))"
            }
        }

        var verdict: String {
            switch goal {
            case .timeRatio(let limit, let stretch, let rss):
                guard let ratio else { return "no peer" }
                let memoryMet = rss.map { Double(ours.medianRSS ?? .max) <= $0 } ?? true
                if ratio <= limit && memoryMet {
                    if let stretch { return ratio <= stretch ? "met, stretch too" : "met" }
                    return "met"
                }
                return ratio <= limit ? "time met, RSS not" : "not met"
            case .seconds(let limit): return ours.median <= limit ? "met" : "not met"
            }
        }
    }

    let runs: Int
    let machine: String
    let peers: [String: String]
    var rows: [Row] = []

    init(runs: Int, machine: String, peers: [String: String]) {
        self.runs = runs
        self.machine = machine
        self.peers = peers
    }

    /// A Markdown table (it pastes into docs/performance.md), then the notes and the setting.
    func rendered() -> String {
        var lines = [
            "| case | peer | ours | peer's | ours/peer | goal | verdict |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for row in rows {
            let peerTime = row.peerRuns.map { Report.seconds($0.median) } ?? "—"
            let ratio = row.ratio.map { String(format: "%.3f×", $0) } ?? "—"
            lines.append(
                "| \(row.name) | \(row.peer) | \(Report.seconds(row.ours.median)) | \(peerTime) | \(ratio) | \(row.goalText) | \(row.verdict) |"
            )
        }
        lines.append("")
        for row in rows where !row.notes.isEmpty {
            lines.append("- \(row.name), vs \(row.peer): \(row.notes.joined(separator: "; "))")
        }
        lines.append("")
        lines.append("Medians of \(runs) timed runs after one warm-up each. \(machine)")
        if !peers.isEmpty {
            lines.append(
                "Peers: " + peers.keys.sorted().map { "\($0) \(peers[$0] ?? "")" }.joined(separator: ", ") + ".")
        }
        return lines.joined(separator: "\n")
    }

    static func seconds(_ value: Double) -> String {
        value < 1 ? String(format: "%.1f ms", value * 1000) : String(format: "%.2f s", value)
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.0f MB", Double(bytes) / 1e6) }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(format: "%.1f", value) : String(format: "%g", value)
    }
}

/// What the numbers were measured on.
enum Machine {
    static func describe(threads: Int) -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
            ?? "unknown CPU"
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let vector = flags.contains("avx512f") ? "AVX-512" : flags.contains("avx2") ? "AVX2" : "no AVX2"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
        return String(
            format: "Machine: %@ (%@), %d cores, %.0f GiB; forward with %d threads.", model, vector, cores, memory,
            threads)
    }
}
