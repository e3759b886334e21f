;;; conversation_driver.el --- the conversation document in Emacs, as a user lives it -*- lexical-binding: t; -*-

;; Loaded after editor-configs/emacs/opencode-eglot.el or opencode-lsp-mode.el (`emacs -Q
;; --batch -l config -l this'), with C-c o bound as the docs say.  Environment:
;;   EDITOR_TEST_CLIENT           "eglot" or "lsp-mode"
;;   EDITOR_TEST_FILE             the file to open (in a git repository)
;;   EDITOR_TEST_BRIDGE_OPTIONS   JSON settings added to the config's own
;;   EDITOR_TEST_SCENARIO         "continue": ask on lines 3-4, the answer streams in, a
;;                                follow-up sent from the conversation (C-c o o, OpenCode:
;;                                Send), then an unsent prompt, the buffer killed and the
;;                                conversation opened again (C-c o v);
;;                                "permission": ask, C-g on the prompt, then Allow once from
;;                                the permission's line in the conversation (C-c o o)
;;   EDITOR_TEST_PARTIAL          "continue": the answer's first words; once they are in the
;;                                conversation the driver prints "TEST: partial" and waits
;;                                for the rest (the test then lets the model go on)
;;   EDITOR_TEST_ANSWERS          the answers' texts, separated by "|"
;; What the user types (the prompt of C-c o a, the menu choices) comes on standard input.
;; Prints what the editor shows as one "TEST-JSON: " line, then exits 0.

(require 'json)
(require 'cl-lib)
(require 'subr-x)

(defvar test-eglot (equal (getenv "EDITOR_TEST_CLIENT") "eglot"))
(defvar test-command-map (if test-eglot 'opencode-eglot-command-map 'opencode-lsp-mode-command-map))
(defvar test-options (if test-eglot 'opencode-eglot-initialization-options
                       'opencode-lsp-mode-initialization-options))
(unless test-eglot
  (setq lsp-auto-guess-root t
        lsp-session-file (locate-user-emacs-file "lsp-session")
        lsp-enable-file-watchers nil
        lsp-keep-workspace-alive nil
        lsp-log-io (and (getenv "EDITOR_TEST_BRIDGE_LOG") t)))

(when-let ((log (getenv "EDITOR_TEST_BRIDGE_LOG"))) ; a debugging aid: the bridge's log
  (set (if test-eglot 'opencode-eglot-program 'opencode-lsp-mode-program)
       (list "opencode-lsp" "--log-file" log "--log-level" "DEBUG")))

(global-set-key (kbd "C-c o") (symbol-value test-command-map)) ; as docs/editors.md says

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-log ()
  (dolist (buffer (buffer-list))         ; the bridge's own log (its stderr)
    (when (string-match-p "stderr" (buffer-name buffer))
      (princ (format "--- %s\n%s\n" (buffer-name buffer)
                     (with-current-buffer buffer (buffer-string)))
             #'external-debugging-output)))
  (if test-eglot
      (let ((server (ignore-errors (eglot-current-server))))
        (when server
          (with-current-buffer (jsonrpc-events-buffer server)
            (princ (buffer-string) #'external-debugging-output))))
    (dolist (buffer (buffer-list))
      (when (string-prefix-p "*lsp-log" (buffer-name buffer))
        (with-current-buffer buffer
          (princ (buffer-string) #'external-debugging-output))))))

(defun test-wait (what predicate timeout)
  "Let Emacs run (process output, timers) until PREDICATE holds; fail after TIMEOUT s."
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (when-let ((buffer (test-conversation)))
          (test-say "conversation:\n%s" (with-current-buffer buffer (buffer-string))))
        (test-log)
        (kill-emacs 1))
      (accept-process-output nil 0.1))))

;;;; Every question Emacs asks the user, counted where it is asked

(defvar test-questions nil "Each question asked, the last first: (:function :prompt).")
(defvar test-asking 0 "How deep in a question we are (y-or-n-p reads with read-string...).")
(defvar test-ctrl-g (getenv "EDITOR_TEST_CTRL_G"))

(defun test-question (function original &rest args)
  (if (> test-asking 0)
      (apply original args)
    (let ((prompt (format "%s" (car args))))
      (push (list :function (symbol-name function) :prompt prompt) test-questions)
      (test-say "asked (%s): %s" function prompt)
      (when (and test-ctrl-g (string-match-p test-ctrl-g prompt))
        (setq test-ctrl-g nil)
        (test-say "C-g")
        (signal 'quit nil))             ; what C-g in the minibuffer does
      (let ((test-asking (1+ test-asking)))
        (apply original args)))))

(dolist (function '(y-or-n-p yes-or-no-p completing-read read-string read-from-minibuffer
                    read-char-choice ask-user-about-supersession-threat ask-user-about-lock))
  (advice-add function :around (apply-partially #'test-question function)))

;;;; The session

(let ((options (json-parse-string (getenv "EDITOR_TEST_BRIDGE_OPTIONS")
                                  :object-type 'plist :null-object nil
                                  :false-object :json-false)))
  (set test-options (append options (symbol-value test-options))))

(defun test-key (keys)
  "Run the command KEYS are bound to, as typing them does."
  (let ((command (key-binding (kbd keys))))
    (test-say "%s runs %s" keys command)
    (setq last-nonmenu-event (aref (kbd keys) (1- (length (kbd keys))))) ; from the keyboard
    (call-interactively command)))

(defun test-type (text)
  "Type TEXT (RET for a newline) where point is, as the keyboard does."
  (execute-kbd-macro (kbd text))
  ;; What the client does once the user pauses (batch Emacs is never idle).
  (when test-eglot (eglot--signal-textDocument/didChange)))

(defun test-conversation ()
  "The buffer of the conversation document, or nil."
  (cl-find-if (lambda (buffer)
                (let ((file (buffer-file-name buffer)))
                  (and file (string-match-p "/conversations/[^/]+\\.md\\'" file))))
              (buffer-list)))

(defun test-text (string)
  (if (multibyte-string-p string) string (decode-coding-string string 'utf-8)))

(defun test-conversation-text ()
  (if-let ((buffer (test-conversation)))
      (with-current-buffer buffer (buffer-substring-no-properties (point-min) (point-max)))
    ""))

(defun test-has (text)
  (string-search text (test-conversation-text)))

(defun test-servers ()
  "How many opencode-lsp servers run (one: no second server for the conversation)."
  (if test-eglot
      (cl-count-if #'opencode-eglot--ours-p (apply #'append (hash-table-values
                                                              eglot--servers-by-project)))
    (cl-count 'opencode-lsp (lsp--session-workspaces (lsp-session))
              :key (lambda (workspace) (lsp--client-server-id (lsp--workspace-client workspace))))))

(defun test-managed-p (buffer)
  "Whether the client manages BUFFER (sends its changes, offers its code actions)."
  (with-current-buffer buffer
    (if test-eglot
        (and (bound-and-true-p eglot--managed-mode) (opencode-eglot--ours-p (eglot-current-server)))
      (and (bound-and-true-p lsp-mode)
           (ignore-errors (opencode-lsp-mode--workspace)) t))))

(defun test-bool (value) (if value t :json-false))

(defun test-view (code-window)
  "What the user sees now: windows, the selected one, the conversation's state."
  (let* ((buffer (test-conversation))
         (window (and buffer (get-buffer-window buffer))))
    (list :selectedIsCode (test-bool (eq (selected-window) code-window))
          :selectedFile (or (buffer-file-name (window-buffer (selected-window))) "")
          :windows (length (window-list))
          :conversationShown (test-bool window)
          :besideCode (test-bool (and window (= (nth 1 (window-edges window))
                                                (nth 1 (window-edges code-window)))
                                      (> (nth 0 (window-edges window))
                                         (nth 0 (window-edges code-window)))))
          :managed (test-bool (and buffer (test-managed-p buffer)))
          :modified (test-bool (and buffer (buffer-modified-p buffer)))
          :servers (test-servers)
          :file (or (and buffer (buffer-file-name buffer)) "")
          :text (test-text (test-conversation-text)))))

(defvar test-marker
  "<!-- opencode: write your next prompt below this line, then run the code action \"OpenCode: Send\" -->")

(defun test-prompt-area ()
  (let ((text (test-conversation-text)))
    (if-let ((at (string-search test-marker text)))
        (progn
          (while (string-search test-marker text (1+ at))
            (setq at (string-search test-marker text (1+ at))))
          (string-trim (substring text (+ at (length test-marker)))))
      "(no marker line)")))

(defvar test-status (if test-eglot 'opencode-eglot-status 'opencode-lsp-mode-status))
(defvar test-states nil "Every state the mode line showed, the last first.")
(add-variable-watcher test-status
                      (lambda (_symbol status _op _where)
                        (push (plist-get status :state) test-states)))

(defun test-idle-p ()
  "Whether the mode line says the run is over (\"OpenCode: idle\")."
  (equal (car test-states) "idle"))

(defun test-turn-ended (answer)
  "Whether the turn that answered ANSWER is over in the conversation (its cost line)."
  (let* ((text (test-conversation-text))
         (at (string-search answer text)))
    (and at (string-match-p "^\\*\\$[0-9.]+ · .*tokens" (substring text at)))))

(defvar test-answers (split-string (or (getenv "EDITOR_TEST_ANSWERS") "") "|"))
(defvar test-seen nil "What the user saw at each step: a plist.")

(find-file (getenv "EDITOR_TEST_FILE"))
(defvar test-buffer (current-buffer))
(defvar test-code-window (selected-window))
(if test-eglot
    (progn (call-interactively #'eglot)  ; M-x eglot
           (test-wait "eglot to connect" (lambda () (eglot-current-server)) 60))
  (call-interactively #'lsp)            ; M-x lsp
  (test-wait "lsp-mode to connect" (lambda () (ignore-errors (opencode-lsp-mode-commands))) 60))

(defun test-scenario ()
 (pcase (getenv "EDITOR_TEST_SCENARIO")
  ("continue"
   ;; Lines 3-4 in the region, C-c o a, the question typed.
   (goto-char (point-min))
   (forward-line 2)
   (set-mark (point))
   (forward-line 2)
   (activate-mark)
   (test-key "C-c o a")
   (setq test-questions nil)
   (test-wait "the conversation to open" (lambda () (and (test-conversation)
                                                         (get-buffer-window (test-conversation))))
              60)
   (setq test-seen (plist-put test-seen :opened (test-view test-code-window)))
   (test-wait "the answer's first words" (lambda () (test-has (getenv "EDITOR_TEST_PARTIAL"))) 60)
   (setq test-seen (plist-put test-seen :partial (test-view test-code-window)))
   (test-say "partial")                 ; the test lets the model finish
   (test-wait "the whole answer" (lambda () (test-has (nth 0 test-answers))) 60)
   (setq test-seen (plist-put test-seen :answered (test-view test-code-window)))
   (test-wait "the mode line to say idle" #'test-idle-p 60) ; the user sees the turn is over

   ;; The user goes to the conversation (C-x o), writes a follow-up at its end, C-c o o.
   (other-window 1)
   (goto-char (point-max))
   (test-type "RET And SPC what SPC does SPC bar SPC return?")
   (setq test-seen (plist-put test-seen :typed (test-prompt-area)))
   (test-key "C-c o o")                 ; the menu: "OpenCode: Send" from standard input
   (test-wait "the second answer" (lambda () (test-has (nth 1 test-answers))) 90)
   (test-wait "the prompt area to clear" (lambda () (equal (test-prompt-area) "")) 30)
   (test-wait "the mode line to say idle" #'test-idle-p 60)
   (test-wait "the turn's cost and tokens" (lambda () (test-turn-ended (nth 1 test-answers))) 30)
   (setq test-seen (plist-put test-seen :continued (test-view test-code-window)))

   ;; A prompt written and not sent; the conversation's buffer killed (C-x k); C-c o v.
   (goto-char (point-max))
   (test-type "RET Not SPC sent SPC yet")
   (let ((kept (test-conversation-text))
         (file (buffer-file-name (test-conversation))))
     (setq test-seen (plist-put test-seen :beforeKill (test-view test-code-window)))
     (kill-buffer (test-conversation))
     (test-wait "the bridge to write the conversation"
                (lambda () (equal (with-temp-buffer (insert-file-contents file) (buffer-string))
                                  kept))
                30)
     (select-window test-code-window)
     (test-key "C-c o v")
     (test-wait "the conversation to open again"
                (lambda () (and (test-conversation) (get-buffer-window (test-conversation))))
                30)
     (test-wait "the bridge to manage it again" (lambda () (test-managed-p (test-conversation))) 30)
     (setq test-seen (plist-put test-seen :kept (test-text kept)))
     (setq test-seen (plist-put test-seen :reopened (test-view test-code-window)))
     ;; Killed again, then opened as a file (C-x C-f): managed by the same server.
     (kill-buffer (test-conversation))
     (find-file file)
     (test-wait "the bridge to manage the file" (lambda () (test-managed-p (test-conversation))) 30)
     (setq test-seen (plist-put test-seen :openedAsFile (test-view test-code-window)))))
  ("permission"
   (test-key "C-c o a")
   (setq test-questions nil)            ; from here on, what the agent's work makes Emacs ask
   (test-wait "the permission in the conversation" (lambda () (test-has "> **Permission**")) 90)
   (setq test-seen (plist-put test-seen :asked (test-view test-code-window)))
   ;; The user goes to the permission's line in the conversation and runs C-c o o.
   (select-window (get-buffer-window (test-conversation)))
   (goto-char (point-min))
   (re-search-forward "^> \\*\\*Permission\\*\\*")
   (test-key "C-c o o")                 ; the menu: "OpenCode: Allow once — …" from stdin
   (test-wait "the agent's edit in the code's buffer"
              (lambda () (with-current-buffer test-buffer
                           (save-excursion (goto-char (point-min))
                                           (search-forward "+ 43" nil t))))
              60)
   (test-wait "the answer after the edit" (lambda () (test-has (nth 0 test-answers))) 60)
   (setq test-seen (plist-put test-seen :allowed (test-view test-code-window)))
   (setq test-seen (plist-put test-seen :codeModified
                              (test-bool (buffer-modified-p test-buffer)))))
  (other (test-say "unknown scenario %S" other) (kill-emacs 2))))

(condition-case err
    (test-scenario)
  (error (test-say "error: %S" err)
         (test-log)
         (kill-emacs 1)))

(princ (concat "TEST-JSON: "
               (test-text
                (json-serialize (append test-seen
                                        (list :questions (vconcat (reverse test-questions))))
                                :null-object nil :false-object :json-false))
               "\n")
       #'external-debugging-output)
(kill-emacs 0)
