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
}
