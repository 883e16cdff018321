import Foundation

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// User and system CPU seconds of this process so far, every thread.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The runs of one case: wall times in seconds and, for whole processes, peak RSS in bytes.
struct Runs: Codable {
    var seconds: [Double] = []
    var peakRSS: [Int] = []

    /// Adds the runs of another measurement of the same command.
    mutating func append(_ other: Runs) {
        seconds += other.seconds
        peakRSS += other.peakRSS
    }

    /// The median time, the figure every ratio uses (robust to one disturbed run).
    var median: Double { Self.median(seconds) }
    var medianRSS: Int? { peakRSS.isEmpty ? nil : Int(Self.median(peakRSS.map(Double.init))) }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// Times `body` `count` times after `warmups` untimed calls.
func measure(runs count: Int, warmups: Int = 1, _ body: () throws -> Void) rethrows -> Runs {
    for _ in 0..<warmups { try body() }
    var runs = Runs()
    for _ in 0..<count {
        let start = monotonicSeconds()
        try body()
        runs.seconds.append(monotonicSeconds() - start)
    }
    return runs
}

/// Why a benchmark step could not run.
struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A finished child process: its exit status, wall time, peak RSS and what it printed.
struct ProcessResult {
    let status: Int32
    let seconds: Double
    let peakRSS: Int
    let standardOutput: String
    let standardError: String
}

/// Runs a program to completion and measures it as a user would see it: the wall time from
/// spawn to exit, and the peak resident set of the process and every descendant it waited for
/// (`wait4`'s rusage), so a supervised command counts its child.
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws
    -> ProcessResult
{
    let directory = FileManager.default.temporaryDirectory
    let outURL = directory.appendingPathComponent("unet-ckpt-bench-\(getpid())-out")
    let errURL = directory.appendingPathComponent("unet-ckpt-bench-\(getpid())-err")
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, outURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

    var merged = ProcessInfo.processInfo.environment
    for (key, value) in environment { merged[key] = value }
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = merged.map { strdup("\($0)=\($1)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }

    var pid: pid_t = 0
    let start = monotonicSeconds()
    let spawned = posix_spawnp(&pid, executable, &actions, nil, argv, envp)
    guard spawned == 0 else {
        throw BenchmarkError("cannot start \(executable): \(String(cString: strerror(spawned)))")
    }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let seconds = monotonicSeconds() - start
    let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return ProcessResult(
        status: exitCode, seconds: seconds, peakRSS: Int(usage.ru_maxrss) * 1024,
        standardOutput: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
        standardError: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
}

/// Runs a whole command `count` times (after one untimed run that warms the page cache).
func measureProcess(runs count: Int, _ executable: String, _ arguments: [String], environment: [String: String] = [:])
    throws -> Runs
{
    var runs = Runs()
    for attempt in 0...count {
        let result = try runProcess(executable, arguments, environment: environment)
        guard result.status == 0 else {
            let detail = result.standardError.split(separator: "\n").last.map(String.init) ?? ""
            throw BenchmarkError("\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(detail)")
        }
        if attempt == 0 { continue }
        runs.seconds.append(result.seconds)
        runs.peakRSS.append(result.peakRSS)
    }
    return runs
}
