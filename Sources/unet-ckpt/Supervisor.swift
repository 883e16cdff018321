import Foundation
import UNetCheckpoint

/// Runs the command in a child process and watches it.
///
/// libhdf5 (Debian's 1.10.8 has about twenty unpatched malformed-file bugs) can crash or loop on
/// a hostile file, and no Swift code can catch a segmentation fault. So the `unet-ckpt` the user
/// starts forks itself and waits: a child that dies by a signal or
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
    /// parent waits for the child and returns the exit status to end with.
    ///
    /// The child is a `fork` of this process at the start of `main`, before any thread exists:
    /// it has the loaded libraries and the parsed environment already, so supervision costs no
    /// second process start (docs/performance.md, "Start-up").
    static func superviseUnlessChild() -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        guard environment[childMarker] == nil, environment["UNET_CKPT_UNSUPERVISED"] == nil else { return nil }
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard !asksOnlyForText(arguments) else { return nil }
        // Until the parent forwards them, the signals that end a command wait (blocked); a parent
        // process may also have left them blocked (test runners do).
        let forwarded = [SIGINT, SIGTERM, SIGHUP]
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signal in forwarded { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        let child = fork()
        if child <= 0 {
            // The child (or, if fork failed, this process unsupervised) runs the command. A crash
            // is left to the default action, which the parent reports in one line, instead of the
            // runtime's backtrace.
            if child == 0 {
                setenv(childMarker, "1", 1)
                for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { Foundation.signal(signal, SIG_DFL) }
            }
            pthread_sigmask(SIG_UNBLOCK, &blocked, nil)
            return nil
        }
        // Interrupts and termination requests reach the child, which ends as the user asked.
        let forwarders = forwarded.map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { kill(child, signal) }
            source.resume()
            return source
        }
        defer { forwarders.forEach { $0.cancel() } }
        var pending = sigset_t()
        sigpending(&pending)
        for signal in forwarded where sigismember(&pending, signal) == 1 { kill(child, signal) }
        for signal in forwarded { Foundation.signal(signal, SIG_IGN) }
        pthread_sigmask(SIG_UNBLOCK, &blocked, nil)

        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var status: Int32 = 0
        Thread.detachNewThread {
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            finished.signal()
        }
        let limit = timeLimit(for: arguments)
        if finished.wait(timeout: limit > 0 ? .now() + limit : .distantFuture) == .timedOut {
            kill(child, SIGKILL)
            finished.wait()
            removeTemporaries(near: arguments)
            report(
                "the command ran longer than \(Int(limit)) s and was stopped (a damaged file can make "
                    + "a reader loop; set UNET_CKPT_TIMEOUT to allow more)", arguments: arguments)
            return 2
        }
        // waitpid's status: the exit code in bits 8-15, or the signal in bits 0-6.
        let signal = status & 0x7f
        guard signal != 0 else { return (status >> 8) & 0xff }
        removeTemporaries(near: arguments)
        // Ended as asked, or by a closed pipe (`unet-ckpt inspect … | head`): no report.
        if [SIGINT, SIGTERM, SIGHUP, SIGPIPE].contains(signal) { return 128 + signal }
        report(
            "reading the input crashed the reader (signal \(signal), \(String(cString: strsignal(signal)))); "
                + "the file is damaged or hostile, and nothing was written", arguments: arguments)
        return 2
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
