import CSupervisor
import Foundation
import UNetCheckpoint

/// Runs the command in a child process and watches it.
///
/// libhdf5 (Debian's 1.10.8 has about twenty unpatched malformed-file bugs) can crash or loop on
/// a hostile file, and no Swift code can catch a segmentation fault. So the `unet-ckpt` the user
/// starts forks before any of its code runs (Sources/CSupervisor: a constructor, before the Swift
/// runtime, Foundation or any library has a thread or a lock to inherit; where the runtime is a
/// shared library, as in debug builds, the child re-executes itself) and waits: the child runs
/// the command; a child that dies by a signal or runs longer than the time limit becomes one line
/// on stderr and exit code 2, and the temporary files a killed child leaves beside its output are
/// removed. Output files are written atomically, so the destination is either untouched or
/// complete. Help, `--version` and completion scripts read no file and run unforked.
enum Supervisor {
    /// The first step of `main`. In the supervised child, or unsupervised, returns nil to run the
    /// command. In the supervisor, which reaches `main` only when its child did not exit by itself,
    /// reports how the child ended, removes what it left, and returns the exit status to end with.
    static func enterMain() -> Int32? {
        let state = unet_ckpt_supervision().pointee
        if state.role == UNET_CKPT_SUPERVISED_CHILD {
            // A crash takes the default action, which the supervisor reports in one line; the
            // runtime's backtrace would bury it.
            for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { Foundation.signal(signal, SIG_DFL) }
        }
        guard state.role == UNET_CKPT_SUPERVISOR else { return nil }
        let arguments = Array(CommandLine.arguments.dropFirst())
        removeTemporaries(near: arguments)
        if state.timed_out != 0 {
            report(
                "the command ran longer than \(Int(state.time_limit)) s and was stopped (a damaged file can make "
                    + "a reader loop; set UNET_CKPT_TIMEOUT to allow more)", arguments: arguments)
            return 2
        }
        let signal = state.child_signal
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
            let role = unet_ckpt_supervision().pointee.role == UNET_CKPT_SUPERVISED_CHILD ? "supervised" : "direct"
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
