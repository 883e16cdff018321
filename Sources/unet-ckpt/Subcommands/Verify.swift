import ArgumentParser
import UNetBioImage
import UNetCheckpoint
import UNetFormats
import UNetInference
import UNetPipelines

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a checkpoint against its schema and every tensor against its checksum.",
        discussion: """
            Exit 0 only when everything holds; 1 when a tensor, the structure or the embedded probe is wrong \
            (each one named). An embedded probe is run through the CPU forward pass and compared within its \
            stored tolerance. --roundtrip also converts the checkpoint to every format it can be written to and \
            back and compares the network's outputs on the probe (or a seeded input of a valid size).
            """)

    @Argument(help: "The checkpoint file.")
    var file: String

    @Flag(help: "Print one JSON document instead of text.")
    var json = false

    @Flag(help: "Also convert to every writable format and back, and compare the outputs per route.")
    var roundtrip = false

    @OptionGroup var options: CommonOptions

    func run() throws {
        if Verification.isPackage(file) { return try verifyPackage() }
        let result: Verification
        do {
            result = Verification(file: file, checkpoint: try CheckpointFile(path: file), roundTrip: roundtrip)
        } catch let error as CheckpointError where json && error.kind == .invalid {
            // A file that breaks the schema is a verification result, not a crash: report it.
            result = Verification(file: file, invalid: error)
        } catch let error as CheckpointError {
            throw report(error, options)
        }
        if json {
            try JSONOutput.print(result)
        } else {
            printText(result)
        }
        if !result.valid { throw ExitStatus.verificationFailed }
    }

    /// A BioImage Model Zoo package: its files, weights and test tensors (UNetBioImage).
    private func verifyPackage() throws {
        var check: PackageVerification!
        try reportingErrors(options) { check = try PackageVerification(path: file) }
        let result = Verification(file: file, package: check)
        if json {
            try JSONOutput.print(result)
        } else {
            if let test = check.test {
                print(
                    "test tensors: \(test.passed ? "ok" : "FAILED"), largest absolute difference "
                        + "\(Format.number(test.maxAbsolute)) (rtol \(test.rtol), atol \(test.atol))")
            }
            if result.valid {
                print(
                    "\(file): OK (BioImage Model Zoo package, \(check.checkedFiles) files match their SHA-256, weights "
                        + "read as \(check.weights ?? "?"))")
                for warning in result.warnings { printWarning(warning) }
            } else {
                printFailures(result, "\(file): FAILED (\(result.failures.count) problem(s))")
            }
        }
        if !result.valid { throw ExitStatus.verificationFailed }
    }

    private func printFailures(_ result: Verification, _ heading: String) {
        print(heading)
        for failure in result.failures { print("  \(failure.key): \(failure.reason)") }
    }

    private func printText(_ result: Verification) {
        if let probe = result.probe {
            print(
                "probe: \(probe.passed ? "ok" : "FAILED"), largest absolute difference \(Format.number(probe.maxAbsolute))"
            )
        }
        for route in result.routes ?? [] {
            print(
                "roundtrip \(route.name): \(route.passed ? "ok" : "FAILED"), max abs \(Format.number(route.maxAbsolute)), "
                    + "max rel \(Format.number(route.maxRelative))")
        }
        if result.valid {
            print(
                "\(file): OK (schema \(result.schemaVersion ?? "?"), \(result.checkedTensors) tensors, every checksum matches)"
            )
            for warning in result.warnings { printWarning(warning) }
        } else {
            printFailures(
                result, "\(file): FAILED (\(result.failures.count) problem(s) in \(result.checkedTensors) tensors)")
        }
    }
}
