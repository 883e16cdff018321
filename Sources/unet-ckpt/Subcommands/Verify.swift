import ArgumentParser
import UNetBioImage
import UNetCheckpoint
import UNetFormats
import UNetInference

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
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

    struct Result: Encodable {
        var file: String
        var valid: Bool
        var schemaVersion: String?
        var checkedTensors: Int
        var failures: [Failure]
        var warnings: [String]
        var probe: ProbeCheck?
        var routes: [RoundTrip.Route]?
        struct ProbeCheck: Encodable {
            var maxAbsolute: Double
            var maxRelative: Double
            var passed: Bool
            enum CodingKeys: String, CodingKey {
                case passed
                case maxAbsolute = "max_abs", maxRelative = "max_rel"
            }
        }
        struct Failure: Encodable {
            var key: String
            var reason: String
        }
        enum CodingKeys: String, CodingKey {
            case file, valid, failures, warnings, probe, routes
            case schemaVersion = "schema_version", checkedTensors = "checked_tensors"
        }
    }

    func run() throws {
        if (try? CheckpointFormat.detect(ModelFolder.weightsFile(file))) == .bioimageio {
            return try verifyPackage()
        }
        var result: Result
        do {
            let checkpoint = try CheckpointFile(path: file)
            let report = checkpoint.verify()
            result = Result(
                file: file, valid: report.isValid, schemaVersion: checkpoint.schemaVersion.description,
                checkedTensors: report.checkedTensors,
                failures: report.failures.map { Result.Failure(key: $0.key, reason: $0.reason) },
                warnings: checkpoint.warnings)
            if report.isValid {
                do {
                    try checkBehaviour(checkpoint, into: &result)
                } catch {
                    result.valid = false
                    result.failures.append(
                        Result.Failure(key: "behaviour", reason: "the network could not be run: \(error)"))
                }
            }
        } catch let error as CheckpointError where json && error.kind == .invalid {
            // A file that breaks the schema is a verification result, not a crash: report it.
            result = Result(
                file: file, valid: false, schemaVersion: nil, checkedTensors: 0,
                failures: (error.problems.isEmpty ? [error.message] : error.problems).map {
                    Result.Failure(key: "", reason: $0)
                },
                warnings: [])
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

    /// Runs the embedded probe and, with --roundtrip, every conversion route.
    private func checkBehaviour(_ file: CheckpointFile, into result: inout Result) throws {
        guard file.probe != nil || roundtrip else { return }
        let checkpoint = try file.read()
        let model = try UNetModel(checkpoint)
        var input = ProbeMaker.input(for: checkpoint.network)
        if let probe = checkpoint.probe {
            input = FeatureMap(
                batch: probe.input.shape[0], channels: probe.input.shape[1], height: probe.input.shape[2],
                width: probe.input.shape[3], values: probe.input.floatValues())
            let output = try model.predict(input)
            let difference = LargestDifference(
                output.values, probe.output.floatValues(), absoluteTolerance: probe.absoluteTolerance,
                relativeTolerance: probe.relativeTolerance)
            result.probe = Result.ProbeCheck(
                maxAbsolute: difference.absolute, maxRelative: difference.relative ?? 0, passed: difference.within)
            if !difference.within {
                result.valid = false
                result.failures.append(
                    Result.Failure(
                        key: "probe",
                        reason:
                            "the network's output differs from the embedded probe output (largest absolute difference "
                            + "\(Format.number(difference.absolute)), tolerance rtol \(probe.relativeTolerance) atol \(probe.absoluteTolerance))"
                    ))
            }
        }
        if roundtrip {
            let routes = try RoundTrip.run(checkpoint, input: input)
            result.routes = routes
            for route in routes where !route.passed {
                result.valid = false
                result.failures.append(
                    Result.Failure(
                        key: "roundtrip \(route.name)",
                        reason:
                            "output differs by \(Format.number(route.maxAbsolute)) (allowed \(route.tolerance) of the largest output)"
                    ))
            }
        }
    }

    /// A BioImage Model Zoo package: its files, weights and test tensors (UNetBioImage).
    private func verifyPackage() throws {
        var check: PackageVerification!
        try reportingErrors(options) { check = try PackageVerification(path: file) }
        var result = Result(
            file: file, valid: check.isValid, schemaVersion: nil, checkedTensors: 0,
            failures: check.failures.map { Result.Failure(key: $0.key, reason: $0.reason) }, warnings: check.warnings)
        if let test = check.test {
            result.probe = Result.ProbeCheck(
                maxAbsolute: test.maxAbsolute, maxRelative: test.maxRelative, passed: test.passed)
        }
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
                print("\(file): FAILED (\(result.failures.count) problem(s))")
                for failure in result.failures { print("  \(failure.key): \(failure.reason)") }
            }
        }
        if !result.valid { throw ExitStatus.verificationFailed }
    }

    private func printText(_ result: Result) {
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
            print("\(file): FAILED (\(result.failures.count) problem(s) in \(result.checkedTensors) tensors)")
            for failure in result.failures { print("  \(failure.key): \(failure.reason)") }
        }
    }
}
