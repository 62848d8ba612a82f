using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sparkle.Tensors.Cpu.Gemm;

/// <summary>
/// The blocked GEMM loops (GotoBLAS/BLIS order) for one micro-kernel:
/// <code>
/// for jc in N by NC:                       B panel  KC x NC  -> L3, shared by all threads
///   for pc in K by KC:  pack B(pc, jc)     (in parallel, one barrier)
///     for ic in M by MC:  pack A(ic, pc)   A block  MC x KC  -> L2, one per thread      } parallel work
///       for jr in NC by NR:                B micro-panel KC x NR -> L1                    } items
///         for ir in MC by MR: micro-kernel C tile MR x NR in registers
/// </code>
/// Work items are (MC block, slice of NR panels) pairs; threads claim them dynamically. The k blocking
/// depends on K alone, so every C element is summed in the same order whatever the thread count:
/// results are bit-identical for 1 and N threads.
/// One instance per calling thread holds the per-call state the work items read (no allocation per call).
/// </summary>
internal sealed class GemmDriver<T, TK> where T : unmanaged where TK : IMicroKernel<T>
{
    [ThreadStatic] private static GemmDriver<T, TK>? _forThread;
    public static GemmDriver<T, TK> ForThisThread => _forThread ??= new();

    private readonly Action<int> _packB, _macro;
    private StridedMatrix<T> _a, _b;
    private T[] _c = [];
    private int _cOffset, _ldc, _m;
    // The current (jc, pc) block and how its work is split.
    private int _jc, _nc, _pc, _kc, _mTiles, _mBlocks, _aBlockRows, _nParts, _panelsPerPart, _panelsPerPack, _bPanels;
    private bool _add;
    private PackBuffer<T> _bBuffer = null!;

    private GemmDriver()
    {
        _packB = PackBChunk;
        _macro = MacroItem;
    }

    /// <summary>C[m x n] (+)= A[m x k] · B[k x n], with m, n, k &gt; 0.</summary>
    public void Run(int m, int n, int k, in StridedMatrix<T> a, in StridedMatrix<T> b, T[] c, int cOffset, int ldc, bool accumulate, int threads)
    {
        int mr = TK.MR, nr = TK.NR;
        _a = a; _b = b; _c = c; _cOffset = cOffset; _ldc = ldc; _m = m;

        // Equal k blocks (no thin last block); depends on k only, never on threads (determinism).
        int kBlocks = (k + GemmBlocking.KC - 1) / GemmBlocking.KC;
        int kcStep = (k + kBlocks - 1) / kBlocks;
        int ncStep = Math.Min(TK.NC, RoundUp(n, nr));
        // M is cut into blocks of whole MR tiles, as equal as possible; with several threads the block
        // count is a multiple of the thread count so every thread gets the same share.
        _mTiles = (m + mr - 1) / mr;
        int mBlocks = (m + TK.MC - 1) / TK.MC;
        if (threads > 1) mBlocks = Math.Min(_mTiles, RoundUp(mBlocks, threads));
        _mBlocks = mBlocks;
        _aBlockRows = (_mTiles + mBlocks - 1) / mBlocks * mr;

        _bBuffer = PackBuffers<T>.B;
        _bBuffer.Get(kcStep * ncStep);
        try
        {
            for (int jc = 0; jc < n; jc += ncStep)
            {
                _jc = jc;
                _nc = Math.Min(ncStep, n - jc);
                _bPanels = (_nc + nr - 1) / nr;
                // Too few MC blocks to feed every thread: also split the panels of B between items.
                _nParts = threads > 1 && mBlocks < 2 * threads ? Math.Min(_bPanels, (2 * threads + mBlocks - 1) / mBlocks) : 1;
                _panelsPerPart = (_bPanels + _nParts - 1) / _nParts;
                _nParts = (_bPanels + _panelsPerPart - 1) / _panelsPerPart;
                int packChunks = threads > 1 ? Math.Min(_bPanels, 2 * threads) : 1;
                _panelsPerPack = (_bPanels + packChunks - 1) / packChunks;
                packChunks = (_bPanels + _panelsPerPack - 1) / _panelsPerPack;
                for (int pc = 0; pc < k; pc += kcStep)
                {
                    _pc = pc;
                    _kc = Math.Min(kcStep, k - pc);
                    _add = accumulate || pc > 0;
                    RunItems(packChunks, _packB, threads);
                    RunItems(mBlocks * _nParts, _macro, threads);
                }
            }
        }
        finally
        {
            _a = _b = default; _c = []; // do not keep the caller's arrays alive
        }
    }

    private static void RunItems(int count, Action<int> body, int threads)
    {
        if (threads > 1 && count > 1) IntraOpPool.For(count, body);
        else for (int i = 0; i < count; i++) body(i);
    }

    private void PackBChunk(int chunk)
    {
        int p0 = chunk * _panelsPerPack, p1 = Math.Min(_bPanels, p0 + _panelsPerPack);
        Packing<T, TK>.PackB(_b.At(_pc, _jc), _kc, _nc, p0, p1, ref _bBuffer.Origin);
    }

    /// <summary>One work item: pack an MC block of A into this thread's buffer, then sweep it against a
    /// slice of the packed B panel.</summary>
    private void MacroItem(int item)
    {
        int mr = TK.MR, nr = TK.NR, kc = _kc;
        int mb = item / _nParts, part = item % _nParts;
        int i0 = (int)((long)mb * _mTiles / _mBlocks) * mr;
        int mc = Math.Min(_m, (int)((long)(mb + 1) * _mTiles / _mBlocks) * mr) - i0;
        int p0 = part * _panelsPerPart, p1 = Math.Min(_bPanels, p0 + _panelsPerPart);

        ref T aPack = ref PackBuffers<T>.A.Get(_aBlockRows * kc);
        Packing<T, TK>.PackA(_a.At(i0, _pc), mc, kc, ref aPack);
        ref T bPack = ref _bBuffer.Origin;
        ref T cBlock = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_c), _cOffset + (nint)i0 * _ldc + _jc);
        nint ldc = _ldc;
        bool add = _add;

        for (int jp = p0; jp < p1; jp++)
        {
            int j = jp * nr, nrEff = Math.Min(nr, _nc - j);
            ref T bPanel = ref Unsafe.Add(ref bPack, (nint)j * kc);
            for (int i = 0; i < mc; i += mr)
            {
                int mrEff = Math.Min(mr, mc - i);
                ref T aPanel = ref Unsafe.Add(ref aPack, (nint)i * kc);
                ref T cTile = ref Unsafe.Add(ref cBlock, i * ldc + j);
                if (mrEff == mr && nrEff == nr) TK.Run(kc, ref aPanel, ref bPanel, ref cTile, ldc, add);
                else EdgeTile(kc, ref aPanel, ref bPanel, ref cTile, ldc, mrEff, nrEff, add);
            }
        }
    }

    /// <summary>A partial tile at the right or bottom edge: the kernel writes the full padded tile to a
    /// scratch tile, and only the valid mr x nr part is stored (or added) into C.</summary>
    private static void EdgeTile(int kc, ref T aPanel, ref T bPanel, ref T c, nint ldc, int mr, int nr, bool add)
    {
        int fullNr = TK.NR;
        ref T tile = ref PackBuffers<T>.Tile.Get(TK.MR * fullNr);
        TK.Run(kc, ref aPanel, ref bPanel, ref tile, fullNr, add: false);
        for (int r = 0; r < mr; r++)
        {
            ref T cRow = ref Unsafe.Add(ref c, r * ldc);
            ref T tRow = ref Unsafe.Add(ref tile, r * fullNr);
            if (add) for (int j = 0; j < nr; j++) Unsafe.Add(ref cRow, j) = ScalarOps.Add(Unsafe.Add(ref cRow, j), Unsafe.Add(ref tRow, j));
            else for (int j = 0; j < nr; j++) Unsafe.Add(ref cRow, j) = Unsafe.Add(ref tRow, j);
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
}
