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
