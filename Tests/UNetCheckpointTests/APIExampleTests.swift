import TestSupport
import Testing
import UNetCheckpoint

/// The README's and the getting-started article's example, as written there (public API only).
@Suite("Documented API example")
struct APIExampleTests {
    func myWeights(for key: String, count: Int) -> [Float] {
        (0..<count).map { Float($0 % 17) / 17 - 0.5 + Float(key.count) / 100 }
    }

    @Test func readAndWrite() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("model.h5")

        let architecture = UNetArchitecture.milesial(inChannels: 3, classes: 2, baseWidth: 4)
        var tensors: [String: Tensor] = [:]
        for spec in try architecture.network().tensorSpecs {
            tensors[spec.key] = Tensor(shape: spec.shape, values: myWeights(for: spec.key, count: spec.elementCount))
        }
        let checkpoint = try Checkpoint(
            architecture: architecture, tensors: tensors,
            metadata: CheckpointMetadata(classes: ["background", "cell"]))
        try checkpoint.write(to: path)

        let file = try CheckpointFile(path: path)
        #expect(file.architecture.description.hasPrefix("milesial: 3 → 2 channels, 2-D, 5 encoder stages"))
        let kernel = try file.tensor("encoder.0.conv0.weight")
        #expect(kernel.shape == [4, 3, 3, 3] && kernel.dtype == .float32)
        #expect(kernel.floatValues() == tensors["encoder.0.conv0.weight"]!.floatValues())
        #expect(file.metadata.classes == ["background", "cell"])
    }
}
