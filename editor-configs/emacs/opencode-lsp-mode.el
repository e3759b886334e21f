;;; opencode-lsp-mode.el --- opencode-lsp with lsp-mode -*- lexical-binding: t; -*-

;; lsp-mode (M-x package-install RET lsp-mode, or Debian: apt install elpa-lsp-mode) runs
;; opencode-lsp as an add-on server: beside your usual language server, in any mode.
;; Load this file from your init file:
;;
;;   (load "/path/to/opencode-lsp-mode.el")
;;   (global-set-key (kbd "C-c o") opencode-lsp-mode-command-map)
;;
;; then M-x lsp in a project file.  Every setting: docs/configuration.md.
;;
;; For opencode-lsp only, this file makes the agent's edits arrive without a "changed on
;; disk" question, leaves a buffer unmodified when its text is then its file's, lets C-g on
;; a permission prompt leave the request for `C-c o o', and opens "Show diff" in a diff-mode
;; buffer (lsp-mode 8 has no window/showDocument).

;;; Code:

(require 'cl-lib)
(require 'subr-x)
;; `emacs -Q' skips site-lisp, where Debian's elpa-lsp-mode lives: look there before giving up.
(unless (require 'lsp-mode nil t)
  (require 'package)
  (add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
  (package-activate-all)
  (require 'lsp-mode))

(defgroup opencode-lsp-mode nil
  "Drive an OpenCode agent through opencode-lsp and lsp-mode."
  :group 'tools
  :prefix "opencode-lsp-mode-")

(defcustom opencode-lsp-mode-program '("opencode-lsp")
  "How to start opencode-lsp: the program and its arguments."
  :type '(repeat string))

(defcustom opencode-lsp-mode-initialization-options nil
  "The bridge's settings, sent as initializationOptions: a plist with camelCase keys,
e.g. (:model \"anthropic/claude-sonnet-4-5\").  As lsp-mode sends it: nil is JSON
null, :json-false is false, a vector is a list."
  :type 'plist)

(defvar opencode-lsp-mode-status nil
  "The last opencode/status notification: a plist (:state :message :sessionID).")

(defvar opencode-lsp-mode-answers nil
  "Every whole answer of this Emacs session, the last one first.")

(defun opencode-lsp-mode--on-status (_workspace params)
  "Keep the opencode/status PARAMS for the mode line."
  (setq opencode-lsp-mode-status
        (list :state (gethash "state" params)
              :message (gethash "message" params)
              :sessionID (gethash "sessionID" params)))
  (force-mode-line-update t))

(defun opencode-lsp-mode--on-log-message (_workspace params)
  "opencode-lsp logs each whole answer (type 3); keep it."
  (when (eql (gethash "type" params) 3)
    (push (gethash "message" params) opencode-lsp-mode-answers)))

(defun opencode-lsp-mode--on-message-request (_workspace params)
  "Ask in the minibuffer with every choice listed; C-g (or no choice) answers null, which
leaves the request pending: the bridge then says where to answer it (`C-c o o')."
  (let* ((titles (append (seq-map (lambda (action) (gethash "title" action))
                                  (gethash "actions" params))
                         nil))
         (choice (condition-case nil
                     (completing-read (concat (gethash "message" params)
                                              "\nChoose (TAB lists all, C-g: later): ")
                                      titles nil t)
                   ;; Not out of the process filter: the request would never be answered.
                   (quit nil))))
    (and (member choice titles) (list :title choice))))

(defun opencode-lsp-mode--on-show-document (workspace params)
  "Show a file the bridge names (the proposed change, a .diff: diff-mode), or a web page.
Without the focus it is the session's conversation: beside the selected window, which
stays selected, and served by WORKSPACE although it is outside the project."
  (let ((uri (gethash "uri" params)))
    (if (eq (gethash "external" params) t)
        (browse-url uri)
      (let ((buffer (find-file-noselect (lsp--uri-to-path uri))))
        (if (eq (gethash "takeFocus" params) t)
            (pop-to-buffer buffer)
          (opencode-lsp-mode--attach-conversation workspace buffer)
          (opencode-conversation-display buffer))))
    (list :success t)))

(defun opencode-lsp-mode--attach-conversation (workspace buffer)
  "Open BUFFER, the conversation, in WORKSPACE (lsp-mode would not: it is outside every
project folder), so it gets the bridge's edits and its code actions; no other server."
  (with-current-buffer buffer
    (opencode-conversation-mode 1)
    (setq opencode-conversation-send-function #'opencode-lsp-mode-send)
    (unless (memq workspace lsp--buffer-workspaces)
      (lsp--open-in-workspace workspace)  ; didOpen
      (setq lsp--buffer-workspaces (list workspace))
      (lsp-mode 1)
      (setq lsp-buffer-uri (lsp--buffer-uri)))))

(defun opencode-lsp-mode--edited-files (edit)
  "The files the WorkspaceEdit EDIT (a hash table) changes."
  (append (seq-map (lambda (change)
                     (lsp--uri-to-path (gethash "uri" (gethash "textDocument" change))))
                   (gethash "documentChanges" edit))
          (let (files)
            (when-let ((changes (gethash "changes" edit)))
              (maphash (lambda (uri _edits) (push (lsp--uri-to-path uri) files)) changes))
            files)))

(defun opencode-lsp-mode--same-as-file-p ()
  "Whether the current buffer's text is its file's text."
  (let ((text (save-restriction (widen) (buffer-substring-no-properties (point-min) (point-max))))
        (file buffer-file-name))
    (and file (file-readable-p file)
         (with-temp-buffer
           (insert-file-contents file)
           (string= text (buffer-string))))))

(defun opencode-lsp-mode--on-apply-edit (_workspace params)
  "Apply the bridge's edit of open buffers without a \"changed on disk\" question, and
keep them in step with their files: the buffer takes its file's modification time first
(the agent's change is on disk already), and a buffer whose text is then its file's is
unmodified.  An edit of a file that is not open is refused (the disk has it)."
  (let* ((edit (gethash "edit" params))
         (buffers (mapcar #'find-buffer-visiting (opencode-lsp-mode--edited-files edit))))
    (if (memq nil buffers)
        (list :applied :json-false :failureReason "The file is not open in Emacs.")
      (let ((modtimes (mapcar (lambda (buffer)
                                (with-current-buffer buffer
                                  (prog1 (visited-file-modtime) (set-visited-file-modtime))))
                              buffers)))
        (condition-case err
            (let ((following (mapcan #'opencode-conversation-following buffers)))
              (lsp--apply-workspace-edit edit 'server-requested)
              (opencode-conversation-follow following)
              (dolist (buffer buffers)
                (with-current-buffer buffer
                  (when (opencode-lsp-mode--same-as-file-p)
                    (set-buffer-modified-p nil))))
              (list :applied t))
          (error                        ; e.g. a stale version: the bridge plans again
           (cl-mapc (lambda (buffer modtime)
                      (with-current-buffer buffer (set-visited-file-modtime modtime)))
                    buffers modtimes)
           (list :applied :json-false :failureReason (error-message-string err))))))))

(defun opencode-lsp-mode--capabilities (capabilities)
  "lsp-mode's CAPABILITIES with a client's own `window' entry in place of the default one
\(lsp-mode appends it, and only the first of two keys is sent)."
  (let ((own (cdr (assq 'window (cdr (memq (assq 'window capabilities) capabilities))))))
    (if own
        (cons (cons 'window own) (cl-remove 'window capabilities :key #'car))
      capabilities)))

(advice-add 'lsp--client-capabilities :filter-return #'opencode-lsp-mode--capabilities)

(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection (lambda () opencode-lsp-mode-program))
  :activation-fn (lambda (_file-name _mode) t) ; any file of a project
  :add-on? t                                   ; beside the mode's own server
  :server-id 'opencode-lsp
  :priority -2
  :initialization-options (lambda () (or opencode-lsp-mode-initialization-options
                                         (make-hash-table)))
  :custom-capabilities '((window . ((workDoneProgress . t) (showDocument . ((support . t))))))
  :request-handlers
  (let ((handlers (make-hash-table :test #'equal)))
    (puthash "window/showMessageRequest" #'opencode-lsp-mode--on-message-request handlers)
    (puthash "window/showDocument" #'opencode-lsp-mode--on-show-document handlers)
    (puthash "workspace/applyEdit" #'opencode-lsp-mode--on-apply-edit handlers)
    handlers)
  :notification-handlers
  (let ((handlers (make-hash-table :test #'equal)))
    (puthash "opencode/status" #'opencode-lsp-mode--on-status handlers)
    (puthash "window/logMessage" #'opencode-lsp-mode--on-log-message handlers)
    handlers)))

(defun opencode-lsp-mode--workspace ()
  "The opencode-lsp workspace of this buffer, or an error the user can act on."
  (or (cl-find 'opencode-lsp (lsp-workspaces)
               :key (lambda (workspace) (lsp--client-server-id (lsp--workspace-client workspace))))
      (user-error "opencode-lsp is not running here: M-x lsp in a project file")))

(defun opencode-lsp-mode-commands ()
  "The commands the server offers (its executeCommandProvider), as a list of strings."
  (let* ((capabilities (lsp--workspace-server-capabilities (opencode-lsp-mode--workspace)))
         (provider (lsp-get capabilities :executeCommandProvider)))
    (append (and provider (lsp-get provider :commands)) nil)))

(defun opencode-lsp-mode-execute (command &optional arguments)
  "Run the workspace COMMAND with ARGUMENTS (a vector) on opencode-lsp; return its result."
  (unless (member command (opencode-lsp-mode-commands))
    (user-error "This opencode-lsp does not offer %s" command))
  (with-lsp-workspace (opencode-lsp-mode--workspace)
    (lsp-request "workspace/executeCommand"
                 (append (list :command command) (and arguments (list :arguments arguments))))))

(defun opencode-lsp-mode-ask (prompt)
  "Ask OpenCode PROMPT; with an active region, about its lines."
  (interactive
   (list (read-string (if (use-region-p) "OpenCode (about the region): " "OpenCode: "))))
  (when (string-empty-p (string-trim prompt))
    (user-error "Nothing to ask"))
  (let ((arguments (list :prompt prompt)))
    (when (use-region-p)
      (setq arguments (append arguments
                              (list :uri (lsp--buffer-uri)
                                    :range (lsp--region-to-range (region-beginning)
                                                                 (region-end)))))
      (deactivate-mark))
    (opencode-lsp-mode-execute "opencode.ask" (vector arguments))
    (message "OpenCode: asked; the answer comes as a message (whole: M-x opencode-lsp-mode-show-answer)")))

(defun opencode-lsp-mode-code-actions ()
  "opencode-lsp's code actions on the region or line: Explain, Review, …, and on a pending
request's diagnostic its quick fixes (Allow once, Allow always, Reject, Show diff)."
  (interactive)
  (with-lsp-workspace (opencode-lsp-mode--workspace)
    (lsp-execute-code-action (lsp--select-action (lsp-code-actions-at-point)))))

(defun opencode-lsp-mode--attach-conversation-file (folder)
  "The conversation of FOLDER opened as a file: its opencode-lsp workspace serves it."
  (when-let ((workspace
              (cl-find-if (lambda (workspace)
                            (eq (lsp--client-server-id (lsp--workspace-client workspace))
                                'opencode-lsp))
                          (gethash (lsp-f-canonical folder)
                                   (lsp-session-folder->servers (lsp-session))))))
    (opencode-lsp-mode--attach-conversation workspace (current-buffer))
    t))

(add-hook 'opencode-conversation-attach-functions
          #'opencode-lsp-mode--attach-conversation-file)

(defun opencode-lsp-mode-conversation ()
  "Open this session's conversation beside the code (the bridge shows it)."
  (interactive)
  (opencode-lsp-mode-execute "opencode.session.open"))

(defun opencode-lsp-mode-send ()
  "Send the prompt area at the end of this conversation (the code action OpenCode: Send)."
  (interactive)
  (opencode-lsp-mode-execute "opencode.session.send" (vector (list :uri (lsp--buffer-uri)))))

(defun opencode-lsp-mode-show-answer ()
  "Show the whole last answer (the message shows only its start)."
  (interactive)
  (unless opencode-lsp-mode-answers
    (user-error "No answer from OpenCode yet"))
  (with-current-buffer (get-buffer-create "*OpenCode answer*")
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert (car opencode-lsp-mode-answers)))
    (goto-char (point-min))
    (special-mode)
    (display-buffer (current-buffer))))

(defun opencode-lsp-mode-mode-line ()
  "The mode-line text: \"OpenCode: busy\" and the status message, or nil."
  (when-let ((state (plist-get opencode-lsp-mode-status :state)))
    (let ((message (plist-get opencode-lsp-mode-status :message)))
      (truncate-string-to-width
       (concat " OpenCode: " state (if (stringp message) (concat " · " message) ""))
       60 nil nil "…"))))

(add-to-list 'global-mode-string '(:eval (opencode-lsp-mode-mode-line)) t)

(defvar opencode-lsp-mode-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "a") #'opencode-lsp-mode-ask)
    (define-key map (kbd "o") #'opencode-lsp-mode-code-actions)
    (define-key map (kbd "r") #'opencode-lsp-mode-show-answer)
    (define-key map (kbd "v") #'opencode-lsp-mode-conversation)
    map)
  "Keys for opencode-lsp; bind it to a prefix, e.g. C-c o.")

(load (expand-file-name "opencode-selection" (file-name-directory (or load-file-name buffer-file-name))) nil t) ; the region as the TUI's context
(load (expand-file-name "opencode-conversation" (file-name-directory (or load-file-name buffer-file-name))) nil t) ; the conversation document
(provide 'opencode-lsp-mode)
;;; opencode-lsp-mode.el ends here
