import Foundation
import TestSupport
import Testing

@testable import UNetCheckpoint

@Suite("Architecture")
struct ArchitectureTests {
    @Test("the paper's network has the published parameter count and sizes")
    func paperNetwork() throws {
        let paper = try UNetArchitecture.paper().network()
        #expect(paper.parameterCount == 31_030_658)
        #expect(paper.outputSize(forInputSize: [572, 572]) == [388, 388])
        #expect(paper.minimumInputSide(axis: 0) == 188)
        let valid = paper.validInputSides(axis: 1, upTo: 700)
        #expect(valid == Array(stride(from: 188, through: 700, by: 16)))
        #expect(paper.outputSize(forInputSize: [573, 572]) == nil)
        let nearest = paper.nearestValidInputSides(to: 500, axis: 0)
        #expect(nearest.below == 492 && nearest.above == 508)
        #expect(!paper.acceptsAnyInputSide(axis: 0))
        // 150.4 G multiply-accumulates: the first conv alone is 64·9·570² (187 M).
        #expect(paper.multiplyAccumulates(forInputSize: [572, 572]).map { ($0 / 1e8).rounded() } == 1504)
        #expect(paper.multiplyAccumulates(forInputSize: [573, 572]) == nil)
    }

    @Test("same-padding networks keep the size and accept any side from the minimum")
    func samePaddingSizes() throws {
        let milesial = try UNetArchitecture.milesial().network()
        #expect(milesial.outputSize(forInputSize: [256, 255]) == [256, 255])
        #expect(milesial.minimumInputSide(axis: 0) == 16)
        #expect(milesial.acceptsAnyInputSide(axis: 1))
        let monai = try UNetArchitecture(ArchitectureV1.monaiBasicUNet()).network()
        #expect(monai.outputSize(forInputSize: [97, 97]) == [97, 97])
        // Keras concatenates without padding: odd sizes before a pool cannot meet again.
        let keras = try UNetArchitecture(ArchitectureV1.kerasFunctional()).network()
        #expect(keras.outputSize(forInputSize: [256, 256]) == [256, 256])
        #expect(keras.outputSize(forInputSize: [250, 256]) == nil)
    }

    @Test("schema 1.0 descriptions migrate to 2.0 and back unchanged, with the same tensors")
    func migrationRoundTrip() throws {
        for v1 in [
            ArchitectureV1.paper(), .milesial(bilinear: true), .milesial(), .monaiBasicUNet(), .kerasFunctional(),
        ] {
            let v2 = UNetArchitecture(v1)
            #expect(v2.version1 == v1)
            #expect(v2.featuresBeyondVersion1.isEmpty)
            #expect(v2.descriptionLines.last == "uses only schema 1.0 features")
            let keys = try v2.network().tensorSpecs.map(\.key)
            #expect(keys.first == "encoder.0.conv0.weight" && keys.last?.hasPrefix("head.out.") == true)
            #expect(v2.finalActivation == v1.finalActivation && v2.outChannels == v1.outChannels)
        }
    }

    @Test("the 2.0 JSON round-trips and uses the documented field names")
    func jsonRoundTrip() throws {
        for architecture in [
            UNetArchitecture.paper(), .milesial(bilinear: true), UNetArchitecture(ArchitectureV1.monaiBasicUNet()),
            UNetArchitecture(ArchitectureV1.kerasFunctional()), SchemaTwoNetworks.residualAttention,
            SchemaTwoNetworks.anisotropic3D,
        ] {
            let text = try CanonicalJSON.string(architecture)
            let decoded = try JSONDecoder().decode(UNetArchitecture.self, from: Data(text.utf8))
            #expect(decoded == architecture)
        }
        let text = try CanonicalJSON.string(UNetArchitecture.milesial(bilinear: true))
        for field in [
            "\"in_channels\"", "\"spatial_dims\":2", "\"align_corners\":true", "\"op\":\"interpolate\"",
            "\"skip_first\"", "\"heads\"",
        ] {
            #expect(text.contains(field), "missing \(field)")
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Layer.self, from: Data(#"{"op": "fft"}"#.utf8))
        }
    }

    @Test("schema 1.0 validation names every broken rule")
    func validationProblems() {
        var broken = ArchitectureV1.paper()
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
        var bilinear = ArchitectureV1.milesial(bilinear: true)
        bilinear.upsample.alignCorners = nil
        #expect(throws: ArchitectureError.self) { try bilinear.validate() }
        var channels = ArchitectureV1.milesial(bilinear: true)
        channels.decoder[3].upChannels = 7
        #expect { try channels.validate() } throws: { error in
            (error as! ArchitectureError).problems == [
                "decoder[3].up_channels = 7, but bilinear without a conv keeps the 512 channels arriving from below"
            ]
        }
    }

    @Test("schema 2.0 validation names every broken rule with its JSON path")
    func schemaTwoValidation() {
        var broken = SchemaTwoNetworks.residualAttention
        broken.spatialDims = 3
        #expect { try broken.validate() } throws: { error in
            (error as! ArchitectureError).problems.contains {
                $0.hasPrefix("encoder[0].layers[0].kernel has 2 entries")
            }
        }
        var skip = SchemaTwoNetworks.residualAttention
        skip.decoder[0].skip = 7
        skip.heads[0].from = 9
        #expect { try skip.validate() } throws: { error in
            (error as! ArchitectureError).problems == ["decoder[0].skip = 7 names no encoder stage"]
        }
        var repeated = SchemaTwoNetworks.residualAttention
        repeated.encoder[0].layers.append(repeated.encoder[0].layers[0])
        #expect { try repeated.validate() } throws: { error in
            (error as! ArchitectureError).problems.contains { $0.contains("repeats the key encoder.0.conv0") }
        }
        var gate = SchemaTwoNetworks.residualAttention
        gate.decoder[0].attention?.layers.removeLast(2)
        #expect { try gate.validate() } throws: { error in
            (error as! ArchitectureError).problems.contains { $0.hasPrefix("decoder[0].attention.layers end with") }
        }
    }

    @Test("strided, residual and attention-gated networks: nodes, levels, tensors and sizes")
    func schemaTwoNetwork() throws {
        let network = try SchemaTwoNetworks.residualAttention.network()
        #expect(network.architecture.version1 == nil)
        #expect(network.architecture.featuresBeyondVersion1.contains("attention gates"))
        #expect(network.architecture.featuresBeyondVersion1.contains("residual units"))
        #expect(network.nodes[network.encoderOutputs[1]].level == 1)
        #expect(network.nodes[network.decoderOutputs[0]].level == 0)
        #expect(network.outputChannels == 3)
        // A strided conv with padding 1: every side from 1 on, but only even sides meet the skip again.
        #expect(network.outputSize(forInputSize: [64, 30]) == [64, 30])
        #expect(network.outputSize(forInputSize: [63, 30]) == nil)
        #expect(network.validInputSides(axis: 0, upTo: 8) == [2, 4, 6, 8])
        let keys = network.tensorSpecs.map(\.key)
        #expect(keys.contains("encoder.1.unit.shortcut.weight"))
        #expect(keys.contains("decoder.0.attention.psi.weight"))
        #expect(keys.contains("encoder.0.act.weight"))  // PReLU
        #expect(network.stageNamesByTensor["decoder.0.attention.psi.weight"] == "decoder.0")
    }

    @Test("anisotropic 3-D sizes follow each axis's own strides")
    func anisotropicSizes() throws {
        let network = try SchemaTwoNetworks.anisotropic3D.network()
        #expect(network.outputSize(forInputSize: [5, 16, 12]) == [5, 16, 12])
        #expect(network.outputSize(forInputSize: [5, 15, 12]) == nil)
        #expect(network.minimumInputSide(axis: 0) == 1)
        #expect(network.period(axis: 0) == 1 && network.period(axis: 1) == 2)
        #expect(network.tensorSpecs.first?.shape == [4, 2, 1, 3, 3])
        #expect(network.tensorSpecs.first?.layout == .oidhw)
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
        let deep = ArchitectureV1(
            inChannels: 1, outChannels: 1,
            encoder: Array(repeating: .init(convs: Array(repeating: 1, count: 8)), count: 11),
            decoder: Array(repeating: .init(upChannels: 1, convs: [1]), count: 10),
            conv: .init(kernel: 7, padding: .valid, bias: true), upsample: .transposed(),
            skip: .init(order: .skipFirst, merge: .crop))
        #expect { try UNetArchitecture(deep).validate() } throws: { error in
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
        ((try? architecture.network())?.tensorSpecs ?? []).map(\.shape).sorted { $0.lexicographicallyPrecedes($1) }
    }

    private func check(_ architecture: UNetArchitecture, against name: String) throws {
        try architecture.validate()
        let manifest = try Fixtures.framework(name)
        let network = try architecture.network()
        #expect(network.parameterCount == manifest.totalParameters, "\(name)")
        #expect(network.tensorSpecs.count == manifest.tensors.count, "\(name)")
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
            let architecture = UNetArchitecture(
                ArchitectureV1.monaiBasicUNet(
                    inChannels: manifest.arguments["in_channels"]!.int!,
                    outChannels: manifest.arguments["out_channels"]!.int!,
                    features: manifest.arguments["features"]!.ints!))
            try check(architecture, against: name)
        }
    }

    @Test func keras() throws {
        let manifest = try Fixtures.framework("keras-functional")
        let architecture = UNetArchitecture(
            ArchitectureV1.kerasFunctional(
                inChannels: manifest.arguments["input_shape"]!.ints!.last!, widths: manifest.arguments["widths"]!.ints!)
        )
        try check(architecture, against: "keras-functional")
        // Keras' creation order is our canonical order: the shapes agree one by one.
        #expect(
            try architecture.network().tensorSpecs.map(\.shape)
                == manifest.tensors.map { entry in
                    let s = entry.shape
                    return s.count == 4 ? [s[3], s[2], s[0], s[1]] : s
                })
    }
}
