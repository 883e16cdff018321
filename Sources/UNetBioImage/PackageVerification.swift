import Foundation
import UNetCheckpoint
import UNetFormats
import UNetImages
import UNetInference

/// `unet-ckpt verify` of a BioImage Model Zoo package: every file the description names against
/// its SHA-256, the weights unet-ckpt reads (a unet-ckpt checkpoint with every checksum), and the
/// test input run through those weights with the package's pre- and post-processing, compared with
/// the test output within the zoo's tolerance (the description's `reproducibility_tolerance`, or
/// bioimageio.core's default: rtol 1e-3, atol 1e-3).
public struct PackageVerification: Sendable {
    public struct Failure: Sendable, Equatable {
        public let key: String
        public let reason: String
    }

    public struct TestRun: Sendable, Equatable {
        public let maxAbsolute: Double
        public let maxRelative: Double
        public let rtol: Double
        public let atol: Double
        public let passed: Bool
    }

    public private(set) var checkedFiles = 0
    public private(set) var failures: [Failure] = []
    public private(set) var warnings: [String] = []
    public private(set) var test: TestRun?
    /// How the weights were read (format and layout).
    public private(set) var weights: String?
    public var isValid: Bool { failures.isEmpty }

    /// Checks the package at `path` (a zip, a folder or its `rdf.yaml`). A package that cannot be
    /// opened at all (not a zip, no description) throws; everything else is a failure or a warning.
    public init(path: String) throws {
        let package = try BioImagePackage(path: path)
        for file in package.namedFiles {
            do {
                _ = try package.bytes(of: file.source, sha256: file.sha256)
                checkedFiles += 1
                if file.sha256 == nil { warnings.append("\(file.field) (\(file.source)) has no sha256 to check") }
            } catch {
                failures.append(Failure(key: file.field, reason: error.message))
            }
        }
        let imported: ImportedCheckpoint
        do {
            imported = try CheckpointImporter.read(path)
        } catch let error as FormatError {
            failures.append(Failure(key: "weights", reason: error.message))
            return
        } catch let error as CheckpointError {
            failures.append(Failure(key: "weights", reason: error.description))
            return
        }
        weights = "\(imported.format.rawValue), layout \(imported.layout)"
        do {
            try run(package, imported.checkpoint)
        } catch let error as InferenceError {
            failures.append(Failure(key: "test", reason: "the network could not be run: \(error.message)"))
        }
    }

    /// The test input through the weights, with the pre- and post-processing unet-ckpt knows.
    private mutating func run(_ package: BioImagePackage, _ checkpoint: Checkpoint) throws {
        let description = package.description
        guard let input = description["inputs"]?.arrayValue?.first,
            let output = description["outputs"]?.arrayValue?.first,
            let inputFile = input["test_tensor"]?["source"]?.stringValue,
            let outputFile = output["test_tensor"]?["source"]?.stringValue
        else {
            warnings.append("the package has no test tensors: the weights were read but not run")
            return
        }
        if (description["inputs"]?.arrayValue?.count ?? 0) > 1 || (description["outputs"]?.arrayValue?.count ?? 0) > 1 {
            warnings.append("only the first input and output are tested")
        }
        let (normalization, note) = package.inputNormalization()
        if let note {
            warnings.append(note.replacingOccurrences(of: "; give predict --normalize", with: "") + ": not tested")
            return
        }
        let postprocessing = (output["postprocessing"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
            .filter { $0 != "ensure_dtype" }
        guard postprocessing.allSatisfy({ ["sigmoid", "softmax"].contains($0) }), postprocessing.count <= 1 else {
            warnings.append(
                "the post-processing \(postprocessing.joined(separator: ", ")) is not run by unet-ckpt: not tested")
            return
        }
        var testInput = try Self.array(package, inputFile)
        let expected = try Self.array(package, outputFile)
        if let normalization {
            let channels = testInput.shape.count > 1 ? testInput.shape[1] : 1
            let plane = testInput.shape.dropFirst(2).reduce(1, *)
            let means = normalization.mean ?? [0]
            let stds = normalization.std ?? [1]
            let scale = normalization.scale ?? 1
            for index in testInput.values.indices {
                let c = index / max(plane, 1) % max(channels, 1)
                let mean = means.count == 1 ? means[0] : means[min(c, means.count - 1)]
                let std = stds.count == 1 ? stds[0] : stds[min(c, stds.count - 1)]
                testInput.values[index] = Float((Double(testInput.values[index]) * scale - mean) / std)
            }
        }
        let model = try UNetModel(checkpoint)
        var result = try model.predict(try testInput.featureMap())
        if let step = postprocessing.first {
            let head: Segmentation.Head = step == "sigmoid" ? .sigmoid : .softmax
            result = Self.activate(result, head)
        }
        let tolerance = description["config"]?["bioimageio"]?["reproducibility_tolerance"]?.arrayValue?.first
        let rtol = tolerance?["relative_tolerance"]?.doubleValue ?? 1e-3
        let atol = tolerance?["absolute_tolerance"]?.doubleValue ?? 1e-3
        guard result.shape == expected.shape else {
            failures.append(
                Failure(
                    key: "test", reason: "the output has the shape \(result.shape), the test output \(expected.shape)"))
            return
        }
        let difference = ProbeMaker.compare(result.values, expected.values, rtol: rtol, atol: atol)
        test = TestRun(
            maxAbsolute: difference.absolute, maxRelative: difference.relative, rtol: rtol, atol: atol,
            passed: difference.within)
        if !difference.within {
            failures.append(
                Failure(
                    key: "test",
                    reason: "the weights do not give the test output: largest absolute difference "
                        + "\(difference.absolute) (rtol \(rtol), atol \(atol))"))
        }
    }

    /// A test tensor of the package (`.npy`), read through a temporary copy.
    private static func array(_ package: BioImagePackage, _ source: String) throws -> NumpyArray {
        let bytes = try package.bytes(of: source, sha256: nil)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "unet-ckpt-bioimageio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("tensor.npy").path
        guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else {
            throw BioImageExportError("cannot write a temporary copy of \(source)")
        }
        return try NumpyArray(contentsOf: file)
    }

    /// The sigmoid, or the softmax over the channels, of a network output.
    private static func activate(_ output: FeatureMap, _ head: Segmentation.Head) -> FeatureMap {
        var result = output
        let channels = output.channels
        let plane = output.spatial.reduce(1, *)
        for n in 0..<output.batch {
            for i in 0..<plane {
                let base = n * channels * plane + i
                if head == .sigmoid {
                    for c in 0..<channels {
                        result.values[base + c * plane] = Float(1 / (1 + exp(-Double(output.values[base + c * plane]))))
                    }
                } else {
                    let values = (0..<channels).map { Double(output.values[base + $0 * plane]) }
                    let largest = values.max() ?? 0
                    let sum = values.reduce(0) { $0 + exp($1 - largest) }
                    for c in 0..<channels { result.values[base + c * plane] = Float(exp(values[c] - largest) / sum) }
                }
            }
        }
        return result
    }
}

extension FeatureMap {
    fileprivate var shape: [Int] { [batch, channels] + spatial }
}
