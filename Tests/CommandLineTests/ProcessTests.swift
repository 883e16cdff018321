import CSupervisor
import Foundation
import TestSupport
import Testing

/// Help, version and completion scripts run in the process the user started; everything else in
/// a supervised child (docs/robustness.md).
@Suite("Command line: which commands need the supervisor")
struct ProcessTests {
    static let textOnly: [[String]] = [
        ["--version"], ["--help"], ["-h"], ["help"], ["help", "inspect"], ["inspect", "--help"], ["convert", "-h"],
        ["predict", "--help"], ["--generate-completion-script", "bash"], ["--generate-completion-script=fish"],
    ]

    @Test("help, --version and completion scripts start no second process", arguments: textOnly)
    func direct(_ arguments: [String]) throws {
        let result = try runUNetCkpt(arguments, environment: ["UNET_CKPT_REPORT_PROCESS": "1"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("unet-ckpt process: direct"), "\(arguments): \(result.standardError)")
        #expect(!result.standardOutput.isEmpty)
    }

    @Test("a command that reads a file runs supervised, also one named like an option after --")
    func supervised() throws {
        for arguments in [["inspect", Fixtures.path("h5py/paper-tiny.h5")], ["inspect", "--", "--help"]] {
            let result = try runUNetCkpt(arguments, environment: ["UNET_CKPT_REPORT_PROCESS": "1"])
            #expect(
                result.standardError.contains("unet-ckpt process: supervised"), "\(arguments): \(result.standardError)")
        }
        // The forked child has its arguments (the runtime finds them beside the environment).
        let result = try runUNetCkpt(["inspect", Fixtures.path("h5py/paper-tiny.h5")])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("format: unet-h5"), "\(result.standardOutput)")
    }

    @Test("a test runner that links the supervisor is not forked")
    func testRunnerDirect() {
        #expect(unet_ckpt_supervision().pointee.role == UNET_CKPT_DIRECT)
    }

    @Test("a supervisor killed outright takes its command with it")
    func killedSupervisor() throws {
        // Started with posix_spawn: Foundation's Process would wait for every holder of its
        // status pipe, the orphan too.
        let arguments = [unetCkptExecutable.path, "inspect", Fixtures.path("h5py/paper-tiny.h5")]
        let environment = ProcessInfo.processInfo.environment.merging(["UNET_CKPT_INJECT_FAULT": "hang"]) { $1 }
            .map { "\($0)=\($1)" }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var supervisor: pid_t = 0
        #expect(posix_spawn(&supervisor, arguments[0], nil, nil, argv, envp) == 0)
        // The child is listed once it runs.
        let listing = "/proc/\(supervisor)/task/\(supervisor)/children"
        var child: pid_t?
        for _ in 0..<500 where child == nil {
            child = (try? String(contentsOfFile: listing, encoding: .utf8)).flatMap {
                $0.split(separator: " ").first.flatMap { pid_t($0) }
            }
            if child == nil { usleep(10_000) }
        }
        kill(supervisor, SIGKILL)
        var status: Int32 = 0
        waitpid(supervisor, &status, 0)
        let worker = try #require(child, "no supervised child appeared")
        // The kernel kills the child when its parent dies; init then reaps it.
        func running() -> Bool {
            guard kill(worker, 0) == 0 else { return false }
            let stat = (try? String(contentsOfFile: "/proc/\(worker)/stat", encoding: .utf8)) ?? ""
            return !stat.contains(") Z ")
        }
        for _ in 0..<200 where running() { usleep(10_000) }
        let orphaned = running()
        if orphaned { kill(worker, SIGKILL) }
        #expect(!orphaned, "the supervised child \(worker) ran on after its supervisor was killed")
    }

    @Test("a reader that closes the pipe early (inspect … | head) is not reported as a crash")
    func closedPipe() throws {
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        // head exits before reading, so the command's first write meets a closed pipe (SIGPIPE).
        shell.arguments = [
            "-c", "\"$0\" inspect \"$1\" | head -c 0", unetCkptExecutable.path, Fixtures.path("h5py/paper-tiny.h5"),
        ]
        let error = Pipe()
        shell.standardError = error
        try shell.run()
        let errors = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        #expect(!errors.contains("crashed"), "\(errors)")
    }
}
