import ArgumentParser
import Foundation

/// `unet-ckpt-bench measure-process`: runs one command `--runs` times (after one warm-up) and
/// prints its wall times and peak RSS as JSON.
///
/// The benchmark starts this as a fresh, small process for every whole-process case: `wait4`'s
/// peak RSS of a child counts the memory of the process that spawned it (Linux records the old
/// address space's high-water mark at `exec`), so children of the benchmark itself, which holds
/// the checkpoints in memory, would all report its size.
struct MeasureProcess: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure-process", abstract: "Time one command (used by the benchmark itself).",
        shouldDisplay: false)

    @Option(help: "Timed runs after one warm-up.")
    var runs = 5

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
    var command: [String]

    func run() throws {
        let words = command.first == "--" ? Array(command.dropFirst()) : command
        guard let executable = words.first else { throw ValidationError("no command to measure") }
        let measured = try measureProcess(runs: runs, executable, Array(words.dropFirst()))
        print(String(decoding: try JSONEncoder().encode(measured), as: UTF8.self))
    }

    /// Measures `executable` through a fresh `measure-process` child of this benchmark.
    static func measure(runs: Int, _ executable: String, _ arguments: [String]) throws -> Runs {
        let bench = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let result = try runProcess(bench, ["measure-process", "--runs", "\(runs)", "--", executable] + arguments)
        guard result.status == 0, let line = result.standardOutput.split(separator: "\n").last else {
            throw BenchmarkError(
                result.standardError.split(separator: "\n").last.map(String.init) ?? "measure-process failed")
        }
        return try JSONDecoder().decode(Runs.self, from: Data(line.utf8))
    }
}
