import Foundation
import UNetBioImage
import UNetCheckpoint
import UNetFormats
import UNetInference

/// What `verify` found (not UNetCheckpoint's `VerificationReport`, the checksums' part of it): the checks of the schema and the checksums, the embedded probe's run and,
/// when asked, the round trip through every format. Its JSON is `verify --json`'s document.
public struct Verification: Encodable, Sendable {
    public var file: String
    /// Whether everything holds.
    public var valid: Bool
    public var schemaVersion: String?
    public var checkedTensors: Int
    /// Every problem, each named by its key (`probe`, `behaviour`, `roundtrip pytorch`, …).
    public var failures: [Failure]
    public var warnings: [String]
    /// The embedded probe's (or a package's test tensors') run.
    public var probe: ProbeCheck?
    /// The round trip's routes, when it ran.
    public var routes: [RoundTrip.Route]?

    /// How the network's output compared with the expected one.
    public struct ProbeCheck: Encodable, Sendable {
        public var maxAbsolute: Double
        public var maxRelative: Double
        public var passed: Bool
        enum CodingKeys: String, CodingKey {
            case passed
            case maxAbsolute = "max_abs", maxRelative = "max_rel"
        }
    }

    /// One problem: where (`key`) and what.
    public struct Failure: Encodable, Sendable {
        public var key: String
        public var reason: String
    }

    enum CodingKeys: String, CodingKey {
        case file, valid, failures, warnings, probe, routes
        case schemaVersion = "schema_version", checkedTensors = "checked_tensors"
    }

    /// Verifies an open checkpoint: its schema and checksums and, when they hold, its embedded
    /// probe and (with `roundTrip`) every conversion route. A network that cannot be run is a
    /// `behaviour` failure, not an error.
    public init(file: String, checkpoint: CheckpointFile, roundTrip: Bool) {
        let report = checkpoint.verify()
        self.file = file
        valid = report.isValid
        schemaVersion = checkpoint.schemaVersion.description
        checkedTensors = report.checkedTensors
        failures = report.failures.map { Failure(key: $0.key, reason: $0.reason) }
        warnings = checkpoint.warnings
        guard valid else { return }
        do {
            try checkBehaviour(of: checkpoint, roundTrip: roundTrip)
        } catch {
            fail("behaviour", "the network could not be run: \(error)")
        }
    }

    /// The report of a file that breaks the schema: its problems as failures.
    public init(file: String, invalid error: CheckpointError) {
        self.file = file
        valid = false
        checkedTensors = 0
        failures = (error.problems.isEmpty ? [error.message] : error.problems).map { Failure(key: "", reason: $0) }
        warnings = []
    }

    /// The report of a checked BioImage Model Zoo package; its test tensors' run is the probe.
    public init(file: String, package check: PackageVerification) {
        self.file = file
        valid = check.isValid
        checkedTensors = 0
        failures = check.failures.map { Failure(key: $0.key, reason: $0.reason) }
        warnings = check.warnings
        probe = check.test.map {
            ProbeCheck(maxAbsolute: $0.maxAbsolute, maxRelative: $0.maxRelative, passed: $0.passed)
        }
    }

    /// Whether `path` is a BioImage Model Zoo package (a zip, a folder or its `rdf.yaml`).
    public static func isPackage(_ path: String) -> Bool {
        (try? CheckpointFormat.detect(ModelFolder.weightsFile(path))) == .bioimageio
    }

    private mutating func fail(_ key: String, _ reason: String) {
        valid = false
        failures.append(Failure(key: key, reason: reason))
    }

    /// Runs the embedded probe and, with `roundTrip`, every conversion route.
    private mutating func checkBehaviour(of file: CheckpointFile, roundTrip: Bool) throws {
        guard file.probe != nil || roundTrip else { return }
        let checkpoint = try file.read()
        var input = ProbeMaker.input(for: checkpoint.network)
        if let probe = checkpoint.probe {
            input = FeatureMap(
                batch: probe.input.shape[0], channels: probe.input.shape[1], height: probe.input.shape[2],
                width: probe.input.shape[3], values: probe.input.floatValues())
            let output = try UNetModel(checkpoint).predict(input)
            let difference = LargestDifference(
                output.values, probe.output.floatValues(), absoluteTolerance: probe.absoluteTolerance,
                relativeTolerance: probe.relativeTolerance)
            self.probe = ProbeCheck(
                maxAbsolute: difference.absolute, maxRelative: difference.relative ?? 0, passed: difference.within)
            if !difference.within {
                fail(
                    "probe",
                    "the network's output differs from the embedded probe output (largest absolute difference "
                        + "\(shortNumber(difference.absolute)), tolerance rtol \(probe.relativeTolerance) "
                        + "atol \(probe.absoluteTolerance))")
            }
        }
        guard roundTrip else { return }
        let routes = try RoundTrip.run(checkpoint, input: input)
        self.routes = routes
        for route in routes where !route.passed {
            fail(
                "roundtrip \(route.name)",
                "output differs by \(shortNumber(route.maxAbsolute)) (allowed \(route.tolerance) of the largest output)"
            )
        }
    }
}

/// A short float as the command line prints it: `0.0123`, `-1.5e-07`.
func shortNumber(_ value: Double) -> String { String(format: "%.4g", value) }
