import Foundation
import UNetCheckpoint

/// Runs the command in a child process and watches it.
///
/// libhdf5 (Debian's 1.10.8 has about twenty unpatched malformed-file bugs) can crash or loop on
/// a hostile file, and no Swift code can catch a segmentation fault. So the `unet-ckpt` the user
/// starts re-executes itself with the same arguments and waits: a child that dies by a signal or
/// runs longer than the time limit becomes one line on stderr and exit code 2, and the temporary
/// files a killed child leaves beside its output are removed. Output files are written
/// atomically, so the destination is either untouched or complete.
enum Supervisor {
    static let childMarker = "UNET_CKPT_SUPERVISED"
    /// Seconds a command may run: 600 for inspect, verify, convert and draw (minutes more than the
    /// largest checkpoints need), none for predict (tiling a large image takes what it takes).
    /// `UNET_CKPT_TIMEOUT` overrides it; 0 disables the limit.
    static func timeLimit(for arguments: [String]) -> Double {
        if let value = ProcessInfo.processInfo.environment["UNET_CKPT_TIMEOUT"].flatMap(Double.init) { return value }
        return arguments.first == "predict" ? 0 : 600
    }

    /// Whether the arguments only ask for the command line's own text: help (`--help`, `-h`,
    /// `help`, also of a subcommand), `--version`, a completion script or the manual's dump
    /// (`--experimental-dump-help`). Those read no file, so they run without a child process.
    static func asksOnlyForText(_ arguments: [String]) -> Bool {
        let options = arguments.prefix { $0 != "--" }  // after "--", "--help" is a file name
        if options.isEmpty || options.first == "help" { return true }
        return options.contains {
            ["--help", "-h", "--version", "--experimental-dump-help", "--generate-completion-script"].contains($0)
                || $0.hasPrefix("--generate-completion-script=")
        }
    }

    /// In the child (or when supervision is off, or for help and version) returns nil; in the
    /// parent runs the child and returns the exit status to end with.
    static func superviseUnlessChild() -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        guard environment[childMarker] == nil, environment["UNET_CKPT_UNSUPERVISED"] == nil else { return nil }
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard !asksOnlyForText(arguments) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        var childEnvironment = environment
        childEnvironment[childMarker] = "1"
        // The parent reports a crash in one line; the runtime's backtrace would bury it.
        if childEnvironment["SWIFT_BACKTRACE"] == nil { childEnvironment["SWIFT_BACKTRACE"] = "enable=no" }
        process.environment = childEnvironment
        // Standard input, output and error are inherited: the child talks to the user directly.
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        // Interrupts and termination requests reach the child, which ends as the user asked. The
        // handlers exist before the child does; a signal that comes first is passed on at its start.
        let pending = PendingSignal()
        // A parent process may have left these blocked (test runners do); they must reach us.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, signal) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let forwarders = [SIGINT, SIGTERM, SIGHUP].map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { pending.deliver(signal, to: process) }
            source.resume()
            Foundation.signal(signal, SIG_IGN)
            return source
        }
        defer { forwarders.forEach { $0.cancel() } }
        do {
            try process.run()
        } catch {
            return nil  // cannot re-execute (an unusual system): run unsupervised
        }
        pending.started(process)
        let limit = timeLimit(for: arguments)
        if finished.wait(timeout: limit > 0 ? .now() + limit : .distantFuture) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            removeTemporaries(near: arguments)
            report(
                "the command ran longer than \(Int(limit)) s and was stopped (a damaged file can make "
                    + "a reader loop; set UNET_CKPT_TIMEOUT to allow more)", arguments: arguments)
            return 2
        }
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            removeTemporaries(near: arguments)
            // Ended as asked, or by a closed pipe (`unet-ckpt inspect … | head`): no report.
            if [SIGINT, SIGTERM, SIGHUP, SIGPIPE].contains(signal) { return 128 + signal }
            report(
                "reading the input crashed the reader (signal \(signal), \(String(cString: strsignal(signal)))); "
                    + "the file is damaged or hostile, and nothing was written", arguments: arguments)
            return 2
        }
        return process.terminationStatus
    }

    /// Test hook: `UNET_CKPT_INJECT_FAULT=segv` or `=hang` makes the (child) command crash or
    /// hang as a hostile file could make libhdf5 do, so the tests can show the supervision works.
    static func injectFaultForTests() {
        // `UNET_CKPT_REPORT_PROCESS=1`: the process that runs the command says whether it is a
        // supervised child, so the tests can show which commands need no second process.
        if ProcessInfo.processInfo.environment["UNET_CKPT_REPORT_PROCESS"] == "1" {
            let role = ProcessInfo.processInfo.environment[childMarker] == nil ? "direct" : "supervised"
            FileHandle.standardError.write(Data("unet-ckpt process: \(role)\n".utf8))
        }
        switch ProcessInfo.processInfo.environment["UNET_CKPT_INJECT_FAULT"] {
        case "segv":
            // A real invalid access, as a faulting C library makes one.
            UnsafeMutablePointer<Int>(bitPattern: 16)!.pointee = 1
        case "hang": while true { sleep(60) }
        default: break
        }
    }

    /// Passes signals to the child once it runs; remembers one that arrives before.
    final class PendingSignal: @unchecked Sendable {
        private let lock = NSLock()
        private var signal: Int32?
        private var running = false

        func deliver(_ signal: Int32, to process: Process) {
            lock.lock()
            defer { lock.unlock() }
            if running { kill(process.processIdentifier, signal) } else { self.signal = signal }
        }

        func started(_ process: Process) {
            lock.lock()
            defer { lock.unlock() }
            running = true
            if let signal { kill(process.processIdentifier, signal) }
        }
    }

    private static func report(_ message: String, arguments: [String]) {
        let file = arguments.dropFirst().first { !$0.hasPrefix("-") } ?? "unet-ckpt"
        FileHandle.standardError.write(Data("error: \(file): \(message)\n".utf8))
    }

    /// Removes the temporary files a killed child (and any other writer that no longer runs)
    /// left in the directories of its arguments.
    static func removeTemporaries(near arguments: [String]) {
        let directories = Set(
            arguments.filter { !$0.hasPrefix("-") }.map {
                URL(fileURLWithPath: $0).deletingLastPathComponent().path
            })
        for directory in directories { AtomicWrite.removeLeftovers(in: directory) }
    }
}
