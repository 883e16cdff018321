import Foundation
import TestSupport
import Testing

@testable import UNetCheckpoint

@Suite("Architecture")
struct ArchitectureTests {
    @Test("the paper's network has the published parameter count and sizes")
    func paperNetwork() throws {
        let paper = UNetArchitecture.paper()
        try paper.validate()
        #expect(paper.parameterCount == 31_030_658)
        #expect(paper.outputSide(forInputSide: 572) == 388)
        #expect(paper.minimumInputSide == 188)
        let valid = paper.validInputSides(upTo: 700)
        #expect(valid == Array(stride(from: 188, through: 700, by: 16)))
        #expect(paper.outputSide(forInputSide: 573) == nil)
        let nearest = paper.nearestValidInputSides(to: 500)
        #expect(nearest.below == 492 && nearest.above == 508)
        #expect(!paper.acceptsAnyInputSide)
    }

    @Test("same-padding networks keep the size and accept any side from the minimum")
    func samePaddingSizes() throws {
        let milesial = UNetArchitecture.milesial()
        #expect(milesial.outputSide(forInputSide: 256) == 256)
        #expect(milesial.outputSide(forInputSide: 255) == 255)
        #expect(milesial.minimumInputSide == 16)
        #expect(milesial.acceptsAnyInputSide)
        let monai = UNetArchitecture.monaiBasicUNet()
        #expect(monai.outputSide(forInputSide: 97) == 97)
        // Keras concatenates without padding: odd sizes before a pool cannot meet again.
        let keras = UNetArchitecture.kerasFunctional()
        #expect(keras.outputSide(forInputSide: 256) == 256)
        #expect(keras.outputSide(forInputSide: 250) == nil)
    }

    @Test("the architecture JSON round-trips and uses the documented field names")
    func jsonRoundTrip() throws {
        for architecture in [
            UNetArchitecture.paper(), .milesial(bilinear: true), .monaiBasicUNet(), .kerasFunctional(),
        ] {
            let text = try CanonicalJSON.string(architecture)
            let decoded = try JSONDecoder().decode(UNetArchitecture.self, from: Data(text.utf8))
            #expect(decoded == architecture)
        }
        let text = try CanonicalJSON.string(UNetArchitecture.milesial(bilinear: true))
        for field in [
            "\"in_channels\"", "\"up_channels\"", "\"align_corners\":true", "\"final_activation\"", "\"skip_first\"",
        ] {
            #expect(text.contains(field), "missing \(field)")
        }
    }

    @Test("validation names every broken rule")
    func validationProblems() {
        var broken = UNetArchitecture.paper()
        broken.decoder.removeLast()
        broken.conv.kernel = 4
        broken.dropout.append(.init(after: "encoder.9", rate: 0.5))
        #expect {
            try broken.validate()
        } throws: { error in
            let problems = (error as! ArchitectureError).problems
            return problems.count == 3 && problems.contains { $0.hasPrefix("decoder has 3 levels") }
                && problems.contains { $0.hasPrefix("conv.kernel = 4") }
                && problems.contains { $0.contains("encoder.9") }
        }
        var bilinear = UNetArchitecture.milesial(bilinear: true)
        bilinear.upsample.alignCorners = nil
        #expect(throws: ArchitectureError.self) { try bilinear.validate() }
        var channels = UNetArchitecture.milesial(bilinear: true)
        channels.decoder[3].upChannels = 7
        #expect { try channels.validate() } throws: { error in
            (error as! ArchitectureError).problems == [
                "decoder[3].up_channels = 7, but bilinear without a conv keeps the 512 channels arriving from below"
            ]
        }
    }

    @Test("an absurdly large network is refused without deriving its tensors' data")
    func hugeNetworkRefused() {
        let huge = UNetArchitecture.paper(widths: Array(repeating: 65536, count: 11))
        #expect { try huge.validate() } throws: { error in
            (error as! ArchitectureError).problems.contains { $0.contains("more than") }
        }
    }

    @Test("a valid-padding network too deep for any input is refused")
    func noValidInput() {
        let deep = UNetArchitecture(
            inChannels: 1, outChannels: 1,
            encoder: Array(repeating: .init(convs: Array(repeating: 1, count: 8)), count: 11),
            decoder: Array(repeating: .init(upChannels: 1, convs: [1]), count: 10),
            conv: .init(kernel: 7, padding: .valid, bias: true), upsample: .transposed(),
            skip: .init(order: .skipFirst, merge: .crop))
        #expect { try deep.validate() } throws: { error in
            (error as! ArchitectureError).problems.contains { $0.contains("no input side") }
        }
    }
}

/// The family constructors derive exactly the tensors of the real projects (manifests made by
/// PyTorch, MONAI and Keras in fixtures/generate.py).
@Suite("Architecture families match the real frameworks")
struct FamilyTests {
    /// Shapes in our layout, sorted, from a framework manifest (Keras HWIO kernels turned to OIHW).
    private func frameworkShapes(_ manifest: Fixtures.FrameworkManifest) -> [[Int]] {
        manifest.tensors.map { entry in
            if manifest.shapeConvention == "keras", entry.shape.count == 4 {
                let s = entry.shape
                return [s[3], s[2], s[0], s[1]]
            }
            return entry.shape
        }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    private func ourShapes(_ architecture: UNetArchitecture) -> [[Int]] {
        architecture.tensorSpecs().map(\.shape).sorted { $0.lexicographicallyPrecedes($1) }
    }

    private func check(_ architecture: UNetArchitecture, against name: String) throws {
        try architecture.validate()
        let manifest = try Fixtures.framework(name)
        #expect(architecture.parameterCount == manifest.totalParameters, "\(name)")
        #expect(architecture.tensorSpecs().count == manifest.tensors.count, "\(name)")
        #expect(ourShapes(architecture) == frameworkShapes(manifest), "\(name)")
    }

    @Test func paper() throws {
        let manifest = try Fixtures.framework("paper-full")
        #expect(manifest.totalParameters == 31_030_658)
        try check(.paper(inChannels: 1, outChannels: 2), against: "paper-full")
    }

    @Test func milesialTransposed() throws {
        try check(.milesial(inChannels: 3, classes: 2, bilinear: false), against: "milesial-transposed")
    }

    @Test func milesialBilinear() throws {
        try check(.milesial(inChannels: 3, classes: 2, bilinear: true), against: "milesial-bilinear")
    }

    @Test func monai() throws {
        for name in ["monai-basicunet", "monai-basicunet-small"] {
            let manifest = try Fixtures.framework(name)
            let architecture = UNetArchitecture.monaiBasicUNet(
                inChannels: manifest.arguments["in_channels"]!.int!,
                outChannels: manifest.arguments["out_channels"]!.int!,
                features: manifest.arguments["features"]!.ints!)
            try check(architecture, against: name)
        }
    }

    @Test func keras() throws {
        let manifest = try Fixtures.framework("keras-functional")
        let architecture = UNetArchitecture.kerasFunctional(
            inChannels: manifest.arguments["input_shape"]!.ints!.last!, widths: manifest.arguments["widths"]!.ints!)
        try check(architecture, against: "keras-functional")
        // Keras' creation order is our canonical order: the shapes agree one by one.
        #expect(
            architecture.tensorSpecs().map(\.shape)
                == manifest.tensors.map { entry in
                    let s = entry.shape
                    return s.count == 4 ? [s[3], s[2], s[0], s[1]] : s
                })
    }
}
